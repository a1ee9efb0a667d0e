"""Where one environment's twin keeps everything: configs, data, logs, sockets, secrets.

One directory per environment, so two environments run side by side and
`down --purge` removes exactly one of them:

    <state>/
      .threetier-state        marker: only a directory holding it is ever purged
      supervisord.conf  Caddyfile
      secrets/                0700 (0710 for the web user's group); one file per secret, 0600
                              (the two the web instances read: 0640, that group's)
      postgres/<node>/data    owned by the database's OS user
      media/ static/          shared by every instance (the EFS/S3 stand-in); the web user's
      caddy/                  XDG dirs: Caddy's local CA and certificates
      logs/<component>.log
      run/                    supervisord and Caddy admin sockets, pid file
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.paths import project_root
from threetier.runtime import contract

STATE_DIR_VARIABLE = "THREETIER_STATE_DIR"
MARKER = ".threetier-state"
# sun_path is 108 bytes on Linux; a longer socket path cannot be bound at all.
MAX_SOCKET_PATH = 100


def resolve_state_dir(env: str, configured: str | None) -> Path:
    """THREETIER_STATE_DIR, else local.state_dir (relative to the project), else .threetier/<env>."""
    override = os.environ.get(STATE_DIR_VARIABLE)
    if override:
        return Path(override).expanduser().resolve()
    if configured:
        path = Path(configured).expanduser()
        return (path if path.is_absolute() else project_root() / path).resolve()
    return (project_root() / ".threetier" / env).resolve()


@dataclass(frozen=True)
class Layout:
    """Paths inside one state directory; creating them is `prepare()`'s job."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def static(self) -> Path:
        return self.root / "static"

    @property
    def caddy_home(self) -> Path:
        return self.root / "caddy"

    @property
    def caddyfile(self) -> Path:
        return self.root / "Caddyfile"

    @property
    def supervisord_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisord_pidfile(self) -> Path:
        return self.run / "supervisord.pid"

    @property
    def caddy_admin_socket(self) -> Path:
        return self.run / "caddy-admin.sock"

    @property
    def caddy_ca_root(self) -> Path:
        """Caddy's local root CA: what clients verify the twin's HTTPS against."""
        return self.caddy_home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    @property
    def lb_health_log(self) -> Path:
        """Caddy's own healthy/unhealthy events: the load balancer's view of each target."""
        return self.logs / "lb-health.log"

    @property
    def pids_file(self) -> Path:
        return self.run / "pids.json"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    def log_of(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def check_socket_paths(self) -> None:
        """Refuse a state dir so deep that its unix sockets could not be bound."""
        for sock in (self.supervisor_socket, self.caddy_admin_socket):
            if len(str(sock)) > MAX_SOCKET_PATH:
                raise ThreetierError(
                    f"the state directory {self.root} is too deep: the socket path {sock} "
                    f"exceeds {MAX_SOCKET_PATH} characters (a unix socket limit)",
                    fix=f"set {STATE_DIR_VARIABLE} or local.state_dir to a shorter path",
                )

    def prepare(self, *, secrets_gid: int | None = None) -> None:
        """Create the directory tree (idempotent), after checking the socket paths fit.

        `secrets_gid`: a group that may enter secrets/ (mode 0710) to read the files
        given to it; the others stay readable by the owner only.
        """
        self.check_socket_paths()
        self.root.mkdir(parents=True, exist_ok=True)
        self.marker.touch(exist_ok=True)
        for directory in (self.logs, self.run, self.media, self.static, self.caddy_home, self.postgres):
            directory.mkdir(exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        if secrets_gid is not None:
            os.chown(self.secrets, -1, secrets_gid)
        os.chmod(self.secrets, contract.secrets_dir_mode(secrets_gid))  # the secrets layout every runtime shares

    def is_state_dir(self) -> bool:
        return self.marker.is_file()
