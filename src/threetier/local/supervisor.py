"""supervisord as the twin's process manager: its config from the services, its
daemon, and an XML-RPC client over its unix socket.

Every program runs in its own process group; `down` stops a group with its stop
signal, waits a bounded time, then kills the group (stopasgroup/killasgroup).
Programs never start on their own (autostart=false): `up` starts them in order,
each only once the one before it is ready.
"""

from __future__ import annotations

import http.client
import os
import shlex
import socket
import subprocess
import sys
import xmlrpc.client
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.local.layout import Layout
from threetier.local.services import Service

RUNNING_STATES = {"RUNNING", "STARTING"}


def _escape(value: str) -> str:
    # supervisord expands %(name)s in these values; a literal % must be doubled.
    return value.replace("%", "%%")


def _env_line(env: dict[str, str]) -> str:
    for key, value in env.items():
        if '"' in value or "\n" in value:
            raise ValueError(f"environment value of {key} cannot hold quotes or newlines")
    return ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(env.items()))


def render_program(service: Service, layout: Layout) -> str:
    lines = [
        f"[program:{service.name}]",
        f"command={_escape(shlex.join(service.command))}",
        "autostart=false",
        f"autorestart={'true' if service.autorestart else 'false'}",
        f"startsecs={service.start_seconds}",
        f"startretries={service.start_retries}",
        f"stopsignal={service.stop_signal}",
        f"stopwaitsecs={service.stop_wait_seconds}",
        "stopasgroup=true",
        "killasgroup=true",
        f"priority={service.priority}",
        "redirect_stderr=true",
        f"stdout_logfile={_escape(str(layout.log_of(service.name)))}",
        "stdout_logfile_maxbytes=10MB",
        "stdout_logfile_backups=2",
    ]
    if service.directory:
        lines.append(f"directory={_escape(service.directory)}")
    if service.user:
        lines.append(f"user={service.user}")
    if service.env:
        lines.append(f"environment={_env_line(service.env)}")
    return "\n".join(lines) + "\n"


def render_supervisord_conf(services: list[Service], layout: Layout, *, identifier: str) -> str:
    """The whole supervisord.conf: holds paths and settings, never a secret's value."""
    head = f"""\
; Written by threetier on every `up`; edits are overwritten.
[unix_http_server]
file={_escape(str(layout.supervisor_socket))}
chmod=0700

[supervisord]
identifier={identifier}
logfile={_escape(str(layout.log_of("supervisord")))}
logfile_maxbytes=5MB
logfile_backups=1
pidfile={_escape(str(layout.supervisord_pidfile))}
directory={_escape(str(layout.root))}
childlogdir={_escape(str(layout.logs))}
umask=022
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{_escape(str(layout.supervisor_socket))}
"""
    return head + "".join("\n" + render_program(service, layout) for service in services)


# --- client ---------------------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's unix socket, with a timeout (the stock one has none)."""

    def __init__(self, path: str, timeout: float):
        super().__init__()
        self._path, self._timeout = path, timeout

    def make_connection(self, host):  # noqa: ANN001, ANN202, ARG002 - signature from xmlrpc.client
        return _UnixConnection(self._path, self._timeout)


class Supervisor:
    """One environment's supervisord: start it, ask it, stop it.

    >>> sup = Supervisor(layout)
    >>> sup.is_running()
    False
    """

    def __init__(self, layout: Layout, *, timeout: float = 30.0):
        self.layout = layout
        self.timeout = timeout

    def rpc(self, timeout: float | None = None):  # noqa: ANN201 - an xmlrpc.client.ServerProxy
        transport = _UnixTransport(str(self.layout.supervisor_socket), timeout or self.timeout)
        return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=transport, allow_none=True).supervisor

    def is_running(self) -> bool:
        if not self.layout.supervisor_socket.exists():
            return False
        try:
            return self.rpc(timeout=3).getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def pid(self) -> int | None:
        try:
            return int(self.rpc(timeout=3).getPID())
        except (OSError, xmlrpc.client.Error):
            return None

    def start_daemon(self, env: dict[str, str]) -> None:
        """Run `supervisord -c conf`: it daemonizes, so this returns once it has forked."""
        executable = Path(sys.executable).with_name("supervisord")
        command = [str(executable) if executable.exists() else "supervisord", "-c", str(self.layout.supervisord_conf)]
        # A stale socket or pid file from a crashed run would make supervisord refuse to start.
        for stale in (self.layout.supervisor_socket, self.layout.supervisord_pidfile):
            stale.unlink(missing_ok=True)
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            raise ThreetierError(
                "supervisord is not installed", fix="run ./scripts/bootstrap (it installs supervisor)"
            ) from None
        if result.returncode != 0:
            raise ThreetierError(
                f"supervisord did not start (exit {result.returncode})",
                details=(result.stderr or result.stdout).strip().splitlines()[-10:],
                fix=f"see {self.layout.log_of('supervisord')}",
            )

    def processes(self) -> dict[str, dict]:
        """name → supervisord's process info (statename, pid, exitstatus, spawnerr...)."""
        return {info["name"]: info for info in self.rpc().getAllProcessInfo()}

    def start(self, name: str, *, wait: bool = False, spawn_error_ok: bool = False) -> None:
        """Start one program. `spawn_error_ok`: the caller watches the program's state and
        shows its log when it fails, which says more than supervisord's SPAWN_ERROR."""
        try:
            self.rpc().startProcess(name, wait)
        except xmlrpc.client.Fault as fault:
            if spawn_error_ok and "SPAWN_ERROR" in fault.faultString:
                return
            if "ALREADY_STARTED" not in fault.faultString:
                raise ThreetierError(
                    f"supervisord could not start {name}: {fault.faultString}",
                    fix=f"see {self.layout.log_of(name)}",
                ) from None

    def stop(self, name: str) -> None:
        """Stop one program (its group gets the stop signal, then SIGKILL after stopwaitsecs)."""
        try:
            self.rpc().stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise ThreetierError(f"supervisord could not stop {name}: {fault.faultString}") from None

    def shutdown(self) -> None:
        """Stop every program (reverse priority: LB, instances, database), then supervisord exits."""
        rpc = self.rpc(timeout=120)
        try:
            rpc.stopAllProcesses(True)
        except xmlrpc.client.Fault:
            pass  # a program stuck in a transition: shutdown below still stops it
        try:
            rpc.shutdown()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            pass  # it may close the socket before answering


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A small, predictable environment for supervisord, so nothing from the caller's
    shell (DJANGO_SETTINGS_MODULE, PYTHONPATH, a test's variables) leaks into the programs."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env
