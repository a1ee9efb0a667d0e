"""One web instance of the twin as one program: nginx in front of gunicorn over a unix
socket, what systemd runs on an EC2 web server, started and stopped as one unit.

    python -m threetier.local.webinstance --nginx /usr/sbin/nginx --dir <state>/instances/web-1a \\
        --socket <dir>/gunicorn.sock -- <gunicorn command...>

Why one program and not two supervisord programs: an instance is one unit for the rest
of the twin, as an EC2 instance is for its Auto Scaling group. supervisord starts,
stops and reports it as one (`status` has one row), `Twin.kill_instance` kills its
process group (nginx, gunicorn and their workers: a terminated instance), and the
replacer replaces it when it dies. If either server exits, the instance exits too:
a half instance (nginx answering 502 for a dead gunicorn) is not left in rotation.

Order: gunicorn first, nginx once gunicorn's socket accepts connections, so the port
never answers 502 for an app that is still starting. Stopping (SIGQUIT from
supervisord to the whole group, or SIGTERM/SIGQUIT to this process): nginx stops
accepting and finishes what it proxies, gunicorn finishes its requests (both
gracefully: see threetier.runtime.gunicorn_conf), bounded, then SIGKILL.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from threetier.runtime import contract

SOCKET_WAIT_SECONDS = 60
POLL_SECONDS = 0.1


def nginx_command(nginx: str, directory: Path) -> list[str]:
    """nginx in the foreground with the instance's own config (see webapp.instance_nginx_conf)."""
    return [nginx, "-e", "stderr", "-p", str(directory), "-c", str(directory / "nginx.conf"), "-g", "daemon off;"]


def socket_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _log(message: str) -> None:
    print(f"threetier.local.webinstance: {message}", file=sys.stderr, flush=True)


class Instance:
    def __init__(self, *, nginx: str, directory: Path, socket_path: Path, gunicorn: Sequence[str]):
        self.nginx, self.directory, self.socket_path = nginx, directory, socket_path
        self.gunicorn_command = list(gunicorn)
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, self._stop_requested)
        tested = subprocess.run(
            contract.nginx_test_command(self.nginx, conf=self.directory / "nginx.conf", prefix=self.directory),
            capture_output=True, text=True, check=False,
        )
        if tested.returncode != 0:
            _log(f"nginx -t failed: {tested.stderr.strip()}")
            return 1
        self.socket_path.unlink(missing_ok=True)
        self.children["gunicorn"] = subprocess.Popen(self.gunicorn_command)
        deadline = time.monotonic() + SOCKET_WAIT_SECONDS
        while not socket_accepts(self.socket_path):
            if self.stopping or self._exited() or time.monotonic() > deadline:
                why = "stopped" if self.stopping else self._exited() or "its socket never accepted"
                _log(f"gunicorn did not start ({why})")
                return self.shutdown(0 if self.stopping else 1)
            time.sleep(POLL_SECONDS)
        self.children["nginx"] = subprocess.Popen(nginx_command(self.nginx, self.directory))
        while not self.stopping:
            exited = self._exited()
            if exited:
                _log(f"{exited}: stopping the instance")
                return self.shutdown(1)
            time.sleep(POLL_SECONDS)
        return self.shutdown(0)

    def _stop_requested(self, signum: int, frame: object) -> None:  # noqa: ARG002 - a signal handler
        self.stopping = True

    def _exited(self) -> str | None:
        for name, child in self.children.items():
            if child.poll() is not None:
                return f"{name} exited with code {child.returncode}"
        return None

    def shutdown(self, code: int) -> int:
        """nginx first (it stops accepting), then gunicorn; gracefully, within one
        graceful timeout for both (supervisord's stopwaitsecs is a little longer)."""
        deadline = time.monotonic() + contract.GUNICORN.graceful_timeout_seconds
        for name, stop in (("nginx", signal.SIGQUIT), ("gunicorn", signal.SIGTERM)):
            child = self.children.get(name)
            if child is None or child.poll() is not None:
                continue
            child.send_signal(stop)
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threetier.local.webinstance")
    parser.add_argument("--nginx", required=True)
    parser.add_argument("--dir", type=Path, required=True, help="the instance's directory (nginx.conf, temp, pid)")
    parser.add_argument("--socket", type=Path, required=True, help="gunicorn's unix socket")
    parser.add_argument("gunicorn", nargs=argparse.REMAINDER, help="-- then gunicorn's command line")
    args = parser.parse_args(argv)
    command = args.gunicorn[1:] if args.gunicorn[:1] == ["--"] else args.gunicorn
    if not command:
        parser.error("no gunicorn command after --")
    return Instance(nginx=args.nginx, directory=args.dir, socket_path=args.socket, gunicorn=command).run()


if __name__ == "__main__":
    sys.exit(main())
