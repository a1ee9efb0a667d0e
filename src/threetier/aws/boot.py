"""The EC2 boot as a program: `python -m threetier.aws.boot ROLE --settings boot.json`.

The user data (threetier.aws.user_data) installs python3.11, downloads and unpacks the
app bundle (S3, `aws s3 cp`: the program is inside the bundle, so it cannot fetch
itself), writes the settings and runs this. Two roles:

- `web` — a web server: nginx → gunicorn (unix socket) → Django, as seed 000 builds it
  by hand. It never holds the master DB secret.
- `migrator` — the short-lived instance each deploy of new code launches first
  (threetier.aws.constructs.web_tier): it alone reads the master secret, ensures the
  app role and its grants (threetier.dbroles), migrates AS THE APP ROLE, then the
  instance signals CloudFormation and powers off. The web servers' Auto Scaling group
  waits for it.

Steps, in order (`Boot`): packages (dnf) → the app user → the file layout → the venv
from the bundle's hash-locked wheelhouse (`pip install --no-index --no-compile
--require-hashes`: no package index at boot) → then, under the venv's Python (boto3):
who am I (IMDSv2) → secrets (Secrets Manager) into the secrets layout of
threetier.runtime.contract → web: app.env, collectstatic as the app user, nginx's
config, the systemd unit, `nginx -t`, start, probe the health path through nginx;
migrator: ensure the app role, `python -m threetier.runtime migrate` as the app user.

The platform parts are thin (`Ec2Platform`: dnf, systemctl, IMDS, Secrets Manager) and
every path is under `--root` (default /), so a test rehearses the whole boot as root
under a temporary root, with the real app user, a moto server and a real PostgreSQL
(`--rehearse`: no dnf, no systemctl; the test starts what the units would).

`python -m threetier.aws.boot migrate` is the Fargate migration task's command: the
master credentials come from its environment (THREETIER_DB_MASTER_USER/_PASSWORD).

Stage 1 (through the venv) imports nothing but the standard library and threetier's
own stdlib-only modules: it runs under the system's bare python3.11.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from threetier.errors import ThreetierError
from threetier.runtime import contract

APP_USER = "threetier"
# The app user's uid/gid on every web server, in the container image (Dockerfile) and on
# the EFS access point: equal ids keep file ownership the same whichever tier wrote a file.
APP_UID = 10001
APP_GID = 10001
NGINX_USER = "nginx"  # Amazon Linux's nginx package runs its workers as this user
PYTHON = "python3.11"
BOOT_LOG = "/var/log/threetier-boot.log"
MASTER_USER_ENV = "THREETIER_DB_MASTER_USER"
MASTER_PASSWORD_ENV = "THREETIER_DB_MASTER_PASSWORD"  # noqa: S105 - the variable's name
MIGRATION_LOCK_KEY = contract.MIGRATION_LOCK_KEY
LOCK_WAIT_SECONDS = contract.MIGRATION_LOCK_WAIT_SECONDS
CONNECT_ATTEMPTS = 30
CONNECT_PAUSE_SECONDS = 10
HEALTH_ATTEMPTS = 60
IMDS = "http://169.254.169.254"
# What the web role installs with dnf (the migrator needs none of it).
WEB_PACKAGES = ("nginx",)
LOG_AGENT_PACKAGES = ("amazon-cloudwatch-agent", "logrotate")


@dataclass(frozen=True)
class BootSettings:
    """Everything a server needs to know at boot (CDK tokens allowed in every string);
    the user data carries it as JSON (`to_json`). No secret value: only where to get it."""

    region: str
    bundle_url: str
    app_port: int
    db_host: str
    db_port: str
    db_name: str
    db_secret_arn: str  # the app role's credentials: all gunicorn gets
    app_secret_arn: str  # the Django secret key
    allowed_hosts: Sequence[str]
    csrf_trusted_origins: Sequence[str]
    secure_cookies: bool
    # The master's credentials: the migrator's only (empty in a web server's settings).
    master_secret_arn: str = ""
    media_backend: str = "filesystem"
    media_root: str = "/var/lib/threetier/media"
    media_bucket: str = ""
    # Probed through nginx before the boot reports success to CloudFormation.
    health_path: str = "/healthz"
    # Bash run by the user data before the program, e.g. mounting the shared media (EFS).
    extra_commands: Sequence[str] = field(default_factory=tuple)
    # The CloudWatch Logs group the app's, nginx's and the boot's logs are shipped to ("" = none).
    log_group: str = ""
    db_sslmode: str = "require"  # the RDS parameter group sets rds.force_ssl: say so
    listen_host: str = ""  # nginx listens on every interface (the ALB's); a rehearsal: 127.0.0.1
    revision: str = "unversioned"
    # What gunicorn is sized for (contract.gunicorn_for): the parameters' web.instance_type
    # and the target group's deregistration delay (the graceful timeout stays below it).
    instance_type: str = "t3.micro"
    deregistration_delay_seconds: int = 300

    def gunicorn(self) -> contract.Gunicorn:
        return contract.gunicorn_for_instance_type(
            self.instance_type, deregistration_delay_seconds=self.deregistration_delay_seconds)

    # Which app: "" = the bundled registry; else the user's (the bundle's app/: its code, lock
    # and wheelhouse), as the parameters' [app] says (contract.AppIdentity).
    app_wsgi: str = ""
    app_settings: str = contract.SETTINGS_MODULE
    app_migrate: str | None = None
    app_collectstatic: bool = True
    app_health_path: str = ""

    def app_identity(self, layout: Ec2Layout) -> contract.AppIdentity:
        if not self.app_wsgi:
            return contract.BUNDLED_APP
        return contract.AppIdentity(
            wsgi=self.app_wsgi, settings=self.app_settings, directory=str(layout.app_code),
            migrate=self.app_migrate, collectstatic=self.app_collectstatic, health_path=self.app_health_path,
        )

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("extra_commands")  # bash, run by the user data itself
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BootSettings:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def app_config(self, layout: Ec2Layout) -> contract.AppConfig:
        return contract.AppConfig(
            db_host=self.db_host, db_port=str(self.db_port), db_name=self.db_name,
            allowed_hosts=list(self.allowed_hosts), csrf_trusted_origins=list(self.csrf_trusted_origins),
            secure_cookies=self.secure_cookies, static_root=str(layout.static_root),
            media_root=str(layout.path(self.media_root)), media_backend=self.media_backend,
            media_bucket=self.media_bucket, db_sslmode=self.db_sslmode, region=self.region,
            revision=self.revision, app=layout.app,
        )


@dataclass(frozen=True)
class Ec2Layout:
    """Where a web server keeps everything, under `root` (/ on EC2)."""

    root: Path = Path("/")
    app: contract.AppIdentity = contract.BUNDLED_APP  # the bundled registry, or the user's app

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def app_dir(self) -> Path:
        return self.path("/opt/threetier")

    @property
    def release(self) -> Path:
        """The unpacked bundle: src/, requirements.txt, wheelhouse/ (app_bundle.py)."""
        return self.app_dir / "app"

    @property
    def venv(self) -> Path:
        return self.app_dir / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def app_code(self) -> Path:
        """A user's app's code in the unpacked bundle (app_bundle.py: app/src)."""
        return self.release / "app" / "src"

    @property
    def app_venv(self) -> Path:
        """A user's app's own venv: its locked requirements, never the boot's."""
        return self.app_dir / "app-venv"

    @property
    def app_python(self) -> Path:
        """The interpreter gunicorn and the one-off steps run under: the app's venv for a user's app."""
        return self.python if self.app.bundled else self.app_venv / "bin" / "python"

    @property
    def settings_file(self) -> Path:
        return self.app_dir / "boot.json"

    @property
    def config_dir(self) -> Path:
        """The secrets directory of the contract's layout, plus app.env."""
        return self.path("/etc/threetier")

    @property
    def app_env_file(self) -> Path:
        return self.config_dir / "app.env"

    @property
    def runtime_dir(self) -> Path:
        return self.path("/run/threetier")

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "gunicorn.sock"

    @property
    def static_root(self) -> Path:
        return self.path("/var/lib/threetier/static")

    @property
    def log_dir(self) -> Path:
        return self.path("/var/log/threetier")

    @property
    def app_log(self) -> Path:
        return self.log_dir / "app.log"

    @property
    def nginx_conf(self) -> Path:
        return self.path("/etc/nginx/nginx.conf")

    @property
    def nginx_site(self) -> Path:
        return self.path("/etc/nginx/conf.d/threetier.conf")

    @property
    def nginx_pid(self) -> Path:
        return self.path("/run/nginx.pid")

    @property
    def nginx_log_dir(self) -> Path:
        return self.path("/var/log/nginx")

    @property
    def nginx_temp(self) -> Path:
        return self.path("/var/lib/nginx/tmp")

    @property
    def unit_file(self) -> Path:
        return self.path("/etc/systemd/system/threetier-gunicorn.service")


# --- what the server runs, rendered from the contract -----------------------------------


def gunicorn_command(layout: Ec2Layout, settings: BootSettings | None = None) -> list[str]:
    sized = settings.gunicorn() if settings else contract.GUNICORN
    return contract.gunicorn_command(str(layout.app_python), bind=contract.unix_bind(layout.socket), name="threetier",
                                     app=layout.app,
                                     settings=sized)


def nginx_configs(layout: Ec2Layout, settings: BootSettings) -> tuple[str, str]:
    """(nginx.conf, conf.d/threetier.conf): the contract's main config and site."""
    listen = f"{settings.listen_host}:{settings.app_port}" if settings.listen_host else str(settings.app_port)
    site = contract.nginx_site(listen=listen, socket=layout.socket, static_root=layout.static_root)
    main = contract.nginx_main(
        site=layout.nginx_site, pid=layout.nginx_pid, error_log=str(layout.nginx_log_dir / "error.log"),
        access_log=str(layout.nginx_log_dir / "access.log"), temp_dir=layout.nginx_temp, user=NGINX_USER,
    )
    return main, site


def gunicorn_unit(layout: Ec2Layout, settings: BootSettings) -> str:
    """gunicorn as a systemd unit, as the app user; its output goes to the app log.

    Group=nginx: the socket (umask 007) is nginx's workers' to use; the app user's own
    group stays a supplementary group (systemd sets the user's groups), which is the
    group that may read the secrets. RequiresMountsFor: after a reboot the app waits for
    the media mount (EFS, /etc/fstab) instead of writing uploads into the empty local
    directory (seed 001's trap).
    """
    command = " ".join(gunicorn_command(layout, settings))  # systemd splits on spaces and never globs
    return f"""[Unit]
Description=threetier web app (gunicorn)
After=network-online.target
Wants=network-online.target
RequiresMountsFor={layout.path(settings.media_root)}

[Service]
User={APP_USER}
Group={NGINX_USER}
EnvironmentFile={layout.app_env_file}
WorkingDirectory={layout.app_dir}
RuntimeDirectory=threetier
RuntimeDirectoryMode=0750
ExecStart={command}
StandardOutput=append:{layout.app_log}
StandardError=append:{layout.app_log}
Restart=always
RestartSec=2
TimeoutStopSec={settings.gunicorn().graceful_timeout_seconds + 5}

[Install]
WantedBy=multi-user.target
"""


def env_file(environment: Mapping[str, str]) -> str:
    """A systemd EnvironmentFile (values never hold a newline; quotes keep the rest literal)."""
    lines = []
    for key, value in environment.items():
        if "\n" in value or '"' in value:
            raise ThreetierError(f"the value of {key} cannot hold a newline or a quote",
                                 fix="check the stack's settings")
        lines.append(f'{key}="{value}"')
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """What `env_file` wrote (systemd's EnvironmentFile rules for it)."""
    result = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            result[key] = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    return result


# --- the platform's parts: thin ---------------------------------------------------------


class Ec2Platform:
    """dnf, systemctl, IMDSv2 and Secrets Manager; `rehearse` stands in for dnf and
    systemctl (a test starts what the units would), everything else is real."""

    def __init__(self, *, region: str, rehearse: bool = False, imds: str = IMDS):
        self.region, self.rehearse, self.imds = region, rehearse, imds.rstrip("/")

    def install(self, packages: Sequence[str]) -> None:
        if not packages:
            return
        if self.rehearse:
            missing = [p for p in packages if p == "nginx" and not find_nginx()]
            if missing:
                raise ThreetierError("nginx is not installed (the rehearsal uses the system's)",
                                     fix="run ./scripts/ensure-nginx as root")
            return
        run(["dnf", "install", "-y", *packages])

    def identity(self) -> tuple[str, str]:
        """(instance id, availability zone), from IMDSv2 (the launch template requires tokens)."""
        token_request = urllib.request.Request(  # noqa: S310 - the instance metadata service
            f"{self.imds}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"},
        )
        with urllib.request.urlopen(token_request, timeout=5) as response:  # noqa: S310
            token = response.read().decode()

        def get(path: str) -> str:
            request = urllib.request.Request(  # noqa: S310
                f"{self.imds}/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": token}
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.read().decode().strip()

        return get("instance-id"), get("placement/availability-zone")

    def secret(self, arn: str) -> str:
        from threetier.aws.api import secret_reader  # noqa: PLC0415 - boto3: stage 2 only

        return secret_reader(self.region)(arn)

    def enable_and_start(self, units: Sequence[str]) -> None:
        if self.rehearse:
            return
        run(["systemctl", "daemon-reload"])
        for unit in units:
            run(["systemctl", "enable", unit])
            run(["systemctl", "restart", unit])


def find_nginx() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def run(command: Sequence[str], **kwargs: object) -> None:
    """Run a step; its output goes to the boot log; a failure names the command."""
    print(f"threetier boot: $ {' '.join(command)}", flush=True)
    result = subprocess.run(list(command), check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise ThreetierError(f"`{' '.join(command[:3])} ...` failed with exit code {result.returncode}",
                             fix=f"see {BOOT_LOG} on the instance (or its log stream)")


def as_app_user(*, supplementary: Sequence[str] = ()) -> dict:
    """subprocess arguments that run a step as the app user (its own group; plus `supplementary`)."""
    user = pwd.getpwnam(APP_USER)
    groups = [grp.getgrnam(name).gr_gid for name in supplementary]
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [user.pw_gid, *groups]}


# --- stage 1: the standard library only ---------------------------------------------------


def ensure_group(name: str, gid: int | None) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        run(["groupadd", "--system", *(["--gid", str(gid)] if gid else []), name])
        return grp.getgrnam(name).gr_gid


def ensure_user(name: str, *, uid: int | None, gid: int, home: Path) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--system", *(["--uid", str(uid)] if uid else []), "--gid", str(gid),
             "--home-dir", str(home), "--no-create-home", "--shell", "/sbin/nologin", name])


def prepare_users(layout: Ec2Layout, *, web: bool) -> int:
    """The app user (fixed ids) and, for nginx's workers, the nginx user (the package's on
    Amazon Linux; created here where the rehearsal's system nginx has none). Returns the
    app's gid: the secrets' group."""
    gid = ensure_group(APP_USER, APP_GID)
    ensure_user(APP_USER, uid=APP_UID, gid=gid, home=layout.app_dir)
    if web:
        nginx_gid = ensure_group(NGINX_USER, None)
        ensure_user(NGINX_USER, uid=None, gid=nginx_gid, home=Path("/var/lib/nginx"))
    return gid


def prepare_layout(layout: Ec2Layout, settings: BootSettings, *, app_gid: int) -> None:
    """Directories with their owners: secrets root's (the app's group may enter), the app's
    data the app user's, nginx's temp nginx's."""
    app = pwd.getpwnam(APP_USER)
    contract.secure_secrets_dir(layout.config_dir, app_gid=app_gid)
    for directory in (layout.app_dir, layout.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for directory in (layout.static_root, layout.path(settings.media_root)):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, app.pw_uid, app.pw_gid)
    os.chown(layout.log_dir, app.pw_uid, app.pw_gid)


def install_runtime(layout: Ec2Layout) -> tuple[float, float]:
    """The venv from the bundle: pip from the wheelhouse itself installs the hash-locked
    runtime dependencies, offline; the app's code is the bundle's src/ (a .pth file, as
    an editable install would). Returns the seconds pip and the byte-compiling took."""
    began = time.monotonic()
    wheelhouse = layout.release / "wheelhouse"
    pips = sorted(wheelhouse.glob("pip-*.whl"))
    if not pips:
        raise ThreetierError(f"the bundle has no pip wheel in {wheelhouse}", fix="rebuild the bundle (threetier synth)")
    if layout.venv.exists():
        shutil.rmtree(layout.venv)  # a boot is the only writer; start clean
    run([sys.executable, "-m", "venv", "--without-pip", str(layout.venv)])
    run([str(layout.python), f"{pips[-1]}/pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-index", "--no-compile", "--require-hashes", "--find-links", str(wheelhouse),
         "--requirement", str(layout.release / "requirements.txt")])
    installed = time.monotonic()
    site = next((layout.venv / "lib").glob("python3*/site-packages"))
    (site / "threetier-app.pth").write_text(f"{layout.release / 'src'}\n")
    # Byte-compile once, as root, so workers (which cannot write here) need not each time;
    # apart from pip (`--no-compile`), which then stays small.
    run([str(layout.python), "-m", "compileall", "-q", "-j", "0", str(site), str(layout.release / "src")],
        stdout=subprocess.DEVNULL)
    if not layout.app.bundled:
        install_app(layout, pips[-1])
    return installed - began, time.monotonic() - installed


def install_app(layout: Ec2Layout, pip: Path) -> None:
    """A user's app's venv from the bundle's app/ (its hash-locked requirements, offline),
    with threetier's stdlib runtime (the bundle's src/: the wrapper, gunicorn's config) on its path."""
    app = layout.release / "app"
    if layout.app_venv.exists():
        shutil.rmtree(layout.app_venv)
    run([sys.executable, "-m", "venv", "--without-pip", str(layout.app_venv)])
    run([str(layout.app_python), f"{pip}/pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-index", "--no-compile", "--require-hashes", "--find-links", str(app / "wheelhouse"),
         "--requirement", str(app / "requirements.txt")])
    site = next((layout.app_venv / "lib").glob("python3*/site-packages"))
    (site / "threetier-runtime.pth").write_text(f"{layout.release / 'src'}\n")
    run([str(layout.app_python), "-m", "compileall", "-q", "-j", "0", str(site), str(layout.app_code)],
        stdout=subprocess.DEVNULL)


# --- stage 2: in the venv (boto3) ------------------------------------------------------------


def write_app_secrets(platform: Ec2Platform, settings: BootSettings, layout: Ec2Layout, *, app_gid: int) -> str:
    """The app role's password and the Django key into the secrets layout (root, the app's
    group, 0640); returns the app role's user name. Values are never printed."""
    credentials = json.loads(platform.secret(settings.db_secret_arn))
    contract.write_secret(layout.config_dir / contract.DB_PASSWORD.name, credentials["password"], app_gid=app_gid)
    secret_key = platform.secret(settings.app_secret_arn).strip()
    contract.write_secret(layout.config_dir / contract.SECRET_KEY.name, secret_key, app_gid=app_gid)
    return credentials["username"]


def app_environment(settings: BootSettings, layout: Ec2Layout, *, db_user: str, name: str, az: str) -> dict[str, str]:
    """The contract's environment for this server: app.env (the unit's EnvironmentFile)."""
    return {
        **contract.app_environment(settings.app_config(layout)),
        contract.DB_USER: db_user,
        **contract.secret_file_environment(layout.config_dir),
        **contract.instance_environment(name, az),
    }


def one_off(layout: Ec2Layout, environment: Mapping[str, str], command: Sequence[str]) -> None:
    """A one-off step as the app user, with the key's value in its environment."""
    secret_key = (layout.config_dir / contract.SECRET_KEY.name).read_text().strip()
    env = {**contract.one_off_environment(environment, secret_key), "PATH": "/usr/bin:/bin",
           "HOME": str(layout.app_dir)}
    run(command, env=env, cwd=layout.app_dir, **as_app_user())


class Boot:
    """One boot of one server; `platform` is the only part that touches AWS or systemd."""

    def __init__(self, settings: BootSettings, layout: Ec2Layout, platform: Ec2Platform):
        self.settings, self.layout, self.platform = settings, layout, platform

    def stage1(self, role: str) -> None:
        self.platform.install(WEB_PACKAGES if role == "web" else ())
        gid = prepare_users(self.layout, web=role == "web")
        prepare_layout(self.layout, self.settings, app_gid=gid)
        pip_seconds, compile_seconds = install_runtime(self.layout)
        print(f"threetier boot: runtime installed in {pip_seconds:.1f} s, byte-compiled in {compile_seconds:.1f} s",
              flush=True)

    def web(self) -> None:
        layout, settings = self.layout, self.settings
        gid = grp.getgrnam(APP_USER).gr_gid
        name, az = self.platform.identity()
        db_user = write_app_secrets(self.platform, settings, layout, app_gid=gid)
        environment = app_environment(settings, layout, db_user=db_user, name=name, az=az)
        layout.app_env_file.write_text(env_file(environment))
        contract.secure_secret_file(layout.app_env_file, app_gid=gid)
        collect = contract.collectstatic_command(str(layout.app_python), layout.app)
        if collect:
            one_off(layout, environment, collect)
        main, site = nginx_configs(layout, settings)
        for path, text in ((layout.nginx_conf, main), (layout.nginx_site, site),
                           (layout.unit_file, gunicorn_unit(layout, settings))):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for directory in (layout.nginx_log_dir, layout.nginx_temp, layout.nginx_pid.parent):
            directory.mkdir(parents=True, exist_ok=True)
        nginx = pwd.getpwnam(NGINX_USER)
        os.chown(layout.nginx_temp, nginx.pw_uid, nginx.pw_gid)
        run(contract.nginx_test_command(find_nginx() or "nginx", conf=layout.nginx_conf))
        self.platform.enable_and_start(["threetier-gunicorn.service", "nginx.service"])
        if not self.platform.rehearse:
            wait_healthy(f"http://127.0.0.1:{settings.app_port}{settings.health_path}")

    def migrator(self) -> None:
        """As master: ensure the app role (under the lock); then migrate as the app role."""
        layout, settings = self.layout, self.settings
        if not settings.master_secret_arn:
            raise ThreetierError("the migrator's settings name no master secret", fix="a threetier bug: report it")
        gid = grp.getgrnam(APP_USER).gr_gid
        db_user = write_app_secrets(self.platform, settings, layout, app_gid=gid)
        master = json.loads(self.platform.secret(settings.master_secret_arn))
        app_password = (layout.config_dir / contract.DB_PASSWORD.name).read_text()
        environment = app_environment(settings, layout, db_user=db_user, name="migrator", az="")
        ensure_app_role(environment, master_user=master["username"], master_password=master["password"],
                        app_user=db_user, app_password=app_password)
        migrate = contract.migrate_command(str(layout.app_python), layout.app)
        if migrate:
            one_off(layout, environment, migrate)


def wait_healthy(url: str, *, attempts: int = HEALTH_ATTEMPTS, pause: float = 2) -> None:
    """The last step: nginx → gunicorn → Django answer 200 on the health path."""
    last = ""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - this server itself
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(pause)
    raise ThreetierError(f"{url} did not answer 200 ({last})", fix=f"see {BOOT_LOG} and /var/log/threetier/app.log")


# --- the app role, as master ----------------------------------------------------------------


def migrate_with_lock(
    *, connect: Callable[[], object], run: Callable[[Sequence[str]], int], command: Sequence[str],
    prepare: Callable[[object], None] | None = None,
) -> int:
    """Run `prepare(conn)` then `command` while holding the migration advisory lock;
    returns the command's exit code."""
    with connect() as conn:  # type: ignore[attr-defined]
        # A stuck peer must not block this boot forever.
        conn.execute(f"SET statement_timeout = '{LOCK_WAIT_SECONDS}s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            if prepare is not None:
                prepare(conn)
            return run(command)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def ensure_app_role(
    environ: Mapping[str, str], *, master_user: str, master_password: str, app_user: str, app_password: str
) -> None:
    """The app role and its grants, as master, under the migration lock (two migrators
    never race to create it)."""
    from threetier import dbroles  # noqa: PLC0415 - psycopg: stage 2 only

    database = required(environ, contract.DB_NAME)
    migrate_with_lock(
        connect=lambda: connect_as(master_user, master_password, environ),
        prepare=lambda conn: dbroles.ensure_app_access(
            conn, database=database, app_user=app_user, app_password=app_password.strip()
        ),
        run=lambda _command: 0,  # the migrations run after, as the app role
        command=[],
    )


def required(environ: Mapping[str, str], name: str) -> str:
    """An environment variable the stacks set (user data or task definition)."""
    value = environ.get(name)
    if not value:
        raise ThreetierError(
            f"{name} is not set",
            fix="run this through the stack's user data or migration task, which set it",
        )
    return value


def app_credentials(environ: Mapping[str, str]) -> tuple[str, str]:
    """The app role's user and password, as the webapp reads them (password or password file)."""
    password = environ.get(contract.DB_PASSWORD.value_variable)
    if not password:
        path = Path(required(environ, contract.DB_PASSWORD.variable))
        try:
            password = path.read_text()
        except OSError as exc:
            raise ThreetierError(
                f"cannot read the app role's password file {path}: {exc.strerror}",
                fix="check the secrets layout (threetier.runtime.contract)",
            ) from None
    return required(environ, contract.DB_USER), password.strip()


def master_credentials(
    environ: Mapping[str, str], *, secret_arn: str | None, get_secret: Callable[[str], str] | None
) -> tuple[str, str]:
    """The master role's user and password: from Secrets Manager when an ARN is given,
    else from the task's environment (Fargate)."""
    if secret_arn and get_secret is not None:
        secret = json.loads(get_secret(secret_arn))
        return secret["username"], secret["password"]
    missing = [name for name in (MASTER_USER_ENV, MASTER_PASSWORD_ENV) if not environ.get(name)]
    if missing:
        raise ThreetierError(
            f"no master credentials: {', '.join(missing)} not set",
            fix=f"pass --master-secret-arn, or set {MASTER_USER_ENV} and {MASTER_PASSWORD_ENV} "
            "(the migration task's secrets do)",
        )
    return environ[MASTER_USER_ENV], environ[MASTER_PASSWORD_ENV]


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`migrate` runs as the app role: the master's credentials stay in this process."""
    return {k: v for k, v in environ.items() if k not in (MASTER_USER_ENV, MASTER_PASSWORD_ENV)}


def connect_as(user: str, password: str, environ: Mapping[str, str] = os.environ):  # noqa: ANN201, B008 - psycopg.Connection
    import psycopg  # noqa: PLC0415 - only the steps that reach the database load it

    last_error: Exception | None = None
    for _attempt in range(CONNECT_ATTEMPTS):
        try:
            return psycopg.connect(
                host=required(environ, contract.DB_HOST),
                port=int(environ.get(contract.DB_PORT) or "5432"),
                dbname=required(environ, contract.DB_NAME),
                user=user,
                password=password,
                # The stacks set THREETIER_DB_SSLMODE=require (RDS forces TLS as well).
                sslmode=environ.get(contract.DB_SSLMODE) or "require",
                connect_timeout=10,
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            last_error = exc
            time.sleep(CONNECT_PAUSE_SECONDS)
    raise ThreetierError(
        f"the database is unreachable after {CONNECT_ATTEMPTS} attempts: {last_error}",
        fix="check THREETIER_DB_HOST/PORT, the database's security group and that it is available",
    )


def fargate_migrate(environ: Mapping[str, str]) -> int:
    """The Fargate migration task: ensure the app role as master (from the task's
    secrets), then `python -m threetier.runtime migrate` as the app role."""
    master_user, master_password = master_credentials(environ, secret_arn=None, get_secret=None)
    app_user, app_password = app_credentials(environ)
    ensure_app_role(environ, master_user=master_user, master_password=master_password,
                    app_user=app_user, app_password=app_password)
    command = contract.migrate_command(sys.executable, contract.app_identity(environ))
    if not command:
        return 0  # the app has no migrations (app.migrate = "")
    return subprocess.run(command, check=False, env=child_environment(environ)).returncode


# --- the command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run a boot command; a ThreetierError becomes one line on stderr and exit code 1."""
    try:
        return run_command(argv)
    except ThreetierError as exc:
        print(f"threetier boot: {exc}", file=sys.stderr)
        return exc.exit_code


def run_command(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m threetier.aws.boot")
    commands = parser.add_subparsers(dest="command", required=True)
    for role in ("web", "migrator"):
        boot = commands.add_parser(role, help=f"boot a {role} (stage 1, then stage 2 in the venv)")
        boot.add_argument("--settings", type=Path, required=True)
        boot.add_argument("--root", type=Path, default=Path("/"))
        boot.add_argument("--rehearse", action="store_true", help="no dnf, no systemctl (a test under --root)")
        boot.add_argument("--imds", default=IMDS)
        boot.add_argument("--stage", choices=("1", "2"), default="1", help=argparse.SUPPRESS)
    commands.add_parser("migrate", help="the Fargate migration task: app role as master, then migrate")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        return fargate_migrate(os.environ)
    settings = BootSettings.from_json(args.settings.read_text())
    layout = Ec2Layout(args.root)
    layout = replace(layout, app=settings.app_identity(layout))
    boot = Boot(settings, layout, Ec2Platform(region=settings.region, rehearse=args.rehearse, imds=args.imds))
    if args.stage == "1":
        boot.stage1(args.command)
        # Stage 2 needs boto3 and psycopg: the venv's Python, the same program.
        again = [str(layout.python), "-m", "threetier.aws.boot", args.command, "--settings", str(args.settings),
                 "--root", str(args.root), "--imds", args.imds, "--stage", "2"]
        again += ["--rehearse"] if args.rehearse else []
        return subprocess.run(again, check=False).returncode
    boot.web() if args.command == "web" else boot.migrator()
    print(f"threetier boot: {args.command} ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
