"""Markers that cannot lie: what a test needs decides which markers it must carry.

Two checks, both naming the marker to add:
- at collection, a test that uses a heavy fixture (a twin, the test PostgreSQL, a moto
  server, a CDK synth) without that fixture's marker;
- while a test sets up or runs, a process it starts (PostgreSQL, gunicorn, Caddy,
  supervisord, node, a moto server, Chromium) or a connection it opens to anything but
  loopback, without the marker. An audit hook sees every subprocess.Popen and
  socket.connect of this process, whichever library makes them.

Processes started from other threads (a twin's watchdog rebuilding a standby while the
next test runs) and during teardown (stopping what a fixture started) are not a test's
doing and are not checked.
"""

from __future__ import annotations

import ast
import functools
import ipaddress
import os
import shlex
import socket
import sys
import threading

import pytest

# What a test must be marked with when it uses one of these fixtures (item.fixturenames
# holds the whole closure, so a fixture built on one of these counts too).
FIXTURE_MARKERS = {
    "postgres_server": "integration",  # tests/webapp: a real PostgreSQL for the session
    "django_db_setup": "integration",
    "twin_env": "integration",  # tests/local: the session's twin
    "drill_twin": "integration",  # tests/drill: a twin with a database pair
    "synthesized": "synth",  # jsii's node process, seconds per environment
    "moto_endpoint": "moto",
    "moto_fargate": "moto",
}
# pytest-django requests its database fixtures dynamically, so go by the marker too.
MARKER_MARKERS = {"django_db": "integration"}

# What a test must be marked with when it starts one of these programs.
PROGRAM_MARKERS = {
    "postgres": "integration",
    "pg_ctl": "integration",
    "initdb": "integration",
    "pg_basebackup": "integration",
    "gunicorn": "integration",
    "caddy": "integration",
    "supervisord": "integration",
    "node": "synth",
    "cdk": "synth",  # the CDK CLI runs our app to synthesize
    "npm": "network",  # installs from the registry
    "moto.server": "moto",
    "chromedriver": "browser",
    "chromium": "browser",
}
SHELLS = {"sh", "bash", "dash"}

# The unit lane (`--unit`) leaves out every test carrying one of these.
UNIT_EXCLUDED = ("integration", "synth", "moto", "browser", "network")
UNIT_EXPRESSION = " and ".join(f"not {marker}" for marker in UNIT_EXCLUDED)
# Importing it starts jsii's Node.js: a unit-lane module must not (mark it synth).
JSII_MODULE = "aws_cdk"


@functools.cache
def module_markers(path: os.PathLike) -> frozenset[str]:
    """The markers of a test file's module-level `pytestmark`, read without importing it
    (the unit lane skips a synth module before its import starts Node.js)."""
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            for sub in ast.walk(node.value):
                if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
                        and sub.value.attr == "mark"):
                    names.add(sub.attr)
    return frozenset(names)


def missing_markers(item: pytest.Item) -> list[str]:
    """One line per marker `item` needs for its fixtures and markers but does not carry."""
    marks = {mark.name for mark in item.iter_markers()}
    needed: dict[str, str] = {}
    for fixture, marker in FIXTURE_MARKERS.items():
        if fixture in item.fixturenames:
            needed.setdefault(marker, f"fixture {fixture}")
    for mark, marker in MARKER_MARKERS.items():
        if mark in marks:
            needed.setdefault(marker, f"marker {mark}")
    return [f"it uses {why}: mark it {marker}" for marker, why in needed.items() if marker not in marks]


def program_names(args) -> set[str]:
    """The programs a Popen argument list starts: argv[0], `python -m X`'s module (and its
    last part), and the first word of a shell's -c script."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = [args]
    argv = [os.fsdecode(a) for a in args]
    if not argv:
        return set()
    names = {os.path.basename(argv[0])}
    if "--version" in argv[1:]:  # asks a binary what it is, starts nothing
        return set()
    if "-m" in argv[1:-1]:
        module = argv[argv.index("-m") + 1]
        names |= {module, module.rsplit(".", 1)[-1]}
    if os.path.basename(argv[0]) in SHELLS and "-c" in argv[1:-1]:
        script = shlex.split(argv[argv.index("-c") + 1])
        if script:
            names.add(os.path.basename(script[0]))
    return names


def is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths, abstract sockets
        return True
    host = address[0]
    if host in ("localhost", "") or str(host).endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name to resolve: somewhere out there
    return ip.is_loopback or ip.is_unspecified


class Guard:
    """The audit hook's view of the test being set up or run in the main thread."""

    def __init__(self) -> None:
        self.nodeid: str | None = None
        self.marks: set[str] = set()

    def watch(self, item: pytest.Item | None) -> None:
        self.nodeid = item.nodeid if item else None
        self.marks = {mark.name for mark in item.iter_markers()} if item else set()

    def audit(self, event: str, args: tuple) -> None:
        if self.nodeid is None:
            return
        if event == "subprocess.Popen":
            if threading.current_thread() is not threading.main_thread():
                return
            for name in sorted(program_names(args[1])):
                marker = PROGRAM_MARKERS.get(name)
                if marker and marker not in self.marks:
                    raise RuntimeError(
                        f"{self.nodeid} starts {name} but is not marked {marker}: "
                        f"add pytestmark = pytest.mark.{marker} (see tests/support/guards.py)"
                    )
        elif event == "socket.connect" and "network" not in self.marks:
            sock, address = args
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
                raise RuntimeError(
                    f"{self.nodeid} connects to {address[0]} (not loopback) but is not marked network"
                )


GUARD = Guard()
_installed = False


def install() -> None:
    """Add the audit hook once per process (audit hooks cannot be removed; GUARD.watch(None)
    turns it off between tests)."""
    global _installed
    if not _installed:
        sys.addaudithook(GUARD.audit)
        _installed = True
