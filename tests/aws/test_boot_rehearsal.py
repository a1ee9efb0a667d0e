"""The EC2 boot rehearsed: the user data script itself (threetier.aws.user_data, the bash
the launch template carries) and the `python -m threetier.aws.boot` it runs, as root under
a temporary root, with the real unprivileged app user, against a moto server (Secrets
Manager, S3), a fake IMDSv2 on loopback and a real PostgreSQL. Then gunicorn starts as
the unit says (the app user, its EnvironmentFile) behind the generated nginx config
(`nginx -t` first), and `/healthz` and a database page answer through nginx.

What the user data does runs for real: its log redirection (BOOT_LOG and the console,
here a file), the bundle's download with the AWS CLI (the real one against moto when it
is installed, else a stand-in that checks the same arguments), the unzip with the system
python3.11, the media-mount commands (web servers only), the settings heredoc and the
program's start. Only its absolute paths move under the temporary root, the program is
told `--root/--rehearse/--imds`, and `dnf` is a stub that records what it was asked.

Two "instances", as on AWS: the migrator (alone holds the master secret: it creates the
app role and migrates as it) and a web server (never sees the master secret).

The bundle is the one the stack ships (app_bundle.stage_bundle: code, lock, wheelhouse),
zipped as CDK zips an asset; the wheelhouse is built once per lock file (scripts/test
builds it before the run, so the run itself needs no network).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import webapp_postgres
from support.twin_helpers import traversable_tempdir

from threetier.aws import boot, user_data
from threetier.aws.app_bundle import stage_bundle
from threetier.local.ports import allocate_ports
from threetier.runtime import contract

pytestmark = [
    pytest.mark.integration,
    pytest.mark.moto,
    pytest.mark.skipif(os.geteuid() != 0, reason="the boot runs as root and creates the app user"),
    pytest.mark.skipif(boot.find_nginx() is None, reason="nginx is missing (scripts/ensure-nginx)"),
]

# The system's python3.11, as on Amazon Linux (a pyenv one under /root is closed to the app user).
SYSTEM_PYTHON = "/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else shutil.which("python3.11")
INSTANCE_ID = "i-0rehearsal0000001"
AZ = "ap-northeast-1c"
REGION = "ap-northeast-1"


@pytest.fixture(scope="module")
def imds():
    """IMDSv2 on loopback: a token for a PUT, metadata only with that token."""
    token = secrets.token_urlsafe(8)
    values = {"/latest/meta-data/instance-id": INSTANCE_ID, "/latest/meta-data/placement/availability-zone": AZ}

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802 - http.server's naming
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self._answer(200 if ok else 400, token if ok else "")

        def do_GET(self):  # noqa: N802
            if self.headers.get("X-aws-ec2-metadata-token") != token:
                return self._answer(401, "")
            self._answer(200 if self.path in values else 404, values.get(self.path, ""))

        def _answer(self, status, body):
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def database():
    server = webapp_postgres.start_server()
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", password=server.password,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE uda_psql_db")  # RDS creates it from DBName
        yield server
    finally:
        webapp_postgres.stop_server(server)


@pytest.fixture(scope="module")
def aws(moto_endpoint, moto_client, database):
    """The stack's side, in moto: the three secrets and the uploaded bundle."""
    sm = moto_client("secretsmanager", region=REGION)
    app_password = secrets.token_urlsafe(16)
    arns = {
        "master": sm.create_secret(
            Name="master", SecretString=json.dumps({"username": "postgres", "password": database.password})
        )["ARN"],
        "db": sm.create_secret(
            Name="app", SecretString=json.dumps({"username": "uda_app", "password": app_password})
        )["ARN"],
        "key": sm.create_secret(Name="key", SecretString=secrets.token_urlsafe(40))["ARN"],
    }
    staged = stage_bundle("x86_64")
    archive = traversable_tempdir("tt-bundle-") / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:  # as CDK zips a directory asset
        for path in sorted(staged.rglob("*")):
            if path.is_file() and path.name != ".complete":
                bundle.write(path, path.relative_to(staged))
    s3 = moto_client("s3", region=REGION)
    s3.create_bucket(Bucket="cdk-assets", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.upload_file(str(archive), "cdk-assets", "bundle.zip")
    shutil.rmtree(archive.parent)
    yield {"arns": arns, "app_password": app_password, "master_password": database.password, "s3": s3}


def settings_for(role: str, aws, database, port: int, root: Path) -> boot.BootSettings:
    return boot.BootSettings(
        region=REGION, bundle_url="s3://cdk-assets/bundle.zip", app_port=port,
        db_host="127.0.0.1", db_port=str(database.port), db_name="uda_psql_db",
        db_secret_arn=aws["arns"]["db"], app_secret_arn=aws["arns"]["key"],
        master_secret_arn=aws["arns"]["master"] if role == "migrator" else "",
        allowed_hosts=["127.0.0.1", "localhost"], csrf_trusted_origins=[f"http://127.0.0.1:{port}"],
        secure_cookies=False, db_sslmode="disable", listen_host="127.0.0.1",
        # Where the stack puts the EFS mount: proof that (and when) the script runs it.
        extra_commands=[f"echo mounted >{root}/media-mounted"],
    )


# The AWS CLI: the real one (Amazon Linux 2023 ships v2; v1 takes the same `s3 cp`), or a
# stand-in that accepts exactly the user data's call and copies with boto3.
AWS_CLI = shutil.which("aws")
AWS_STAND_IN = f"""#!{SYSTEM_PYTHON}
import sys
args = sys.argv[1:]
assert args[:2] == ["s3", "cp"] and args[4:] == ["--region", "{REGION}", "--only-show-errors"], args
sys.path[:0] = {json.dumps(sys.path)}
import boto3
bucket, key = args[2].removeprefix("s3://").split("/", 1)
boto3.client("s3", region_name="{REGION}").download_file(bucket, key, args[3])
"""


def tools(root: Path) -> Path:
    """dnf as a stub that records its arguments, and the AWS CLI, first on PATH."""
    directory = root / "rehearsal-bin"
    directory.mkdir()
    (directory / "dnf").write_text(f'#!/bin/sh\necho "$*" >>{root}/dnf-calls\n')
    if AWS_CLI:
        (directory / "aws").symlink_to(AWS_CLI)
    else:
        (directory / "aws").write_text(AWS_STAND_IN)
    for tool in directory.iterdir():
        if not tool.is_symlink():
            tool.chmod(0o755)
    return directory


def rehearsal_script(role: str, settings: boot.BootSettings, root: Path, imds: str) -> str:
    """The user data as rendered for `role`, its absolute paths under `root`, the console a
    file, and the program told it is a rehearsal."""
    script = user_data.boot_script(settings, role=role)
    for path in (str(boot.Ec2Layout().app_dir), boot.BOOT_LOG):
        assert path in script, path
        script = script.replace(path, f"{root}{path}")
    assert ">/dev/console" in script
    script = script.replace(">/dev/console", f">{root}/console")
    program = f"-m threetier.aws.boot {role} --settings {root}{boot.Ec2Layout().settings_file}"
    assert program in script
    return script.replace(program, f"{program} --root {root} --rehearse --imds {imds}")


def boot_instance(role: str, aws, database, port: int, moto_endpoint, imds) -> Path:
    """Run the user data script of `role` (which downloads the bundle, unpacks it, writes the
    settings and runs the program) under a new temporary root."""
    root = traversable_tempdir(f"tt-boot-{role}-")
    (root / "var" / "log").mkdir(parents=True)  # as on the AMI
    settings = settings_for(role, aws, database, port, root)
    script = root / "user-data.sh"
    script.write_text(rehearsal_script(role, settings, root, imds))
    env = {
        # The system's python3.11 (as on Amazon Linux), never a pyenv one under /root.
        "PATH": f"{tools(root)}:{Path(SYSTEM_PYTHON).parent}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(["/bin/bash", str(script)], env=env, capture_output=True, text=True, timeout=600)
    log = root / boot.BOOT_LOG.lstrip("/")
    output = log.read_text()[-6000:] if log.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"{role} user data failed (exit {result.returncode}):\n{output}")

    # What the user data did itself, before and around the program.
    layout = boot.Ec2Layout(root)
    assert (root / "dnf-calls").read_text().splitlines()[0] == f"install -y {boot.PYTHON} aws-cfn-bootstrap"
    assert (layout.app_dir / "bundle.zip").is_file() and (layout.release / "requirements.txt").is_file()
    assert boot.BootSettings.from_json(layout.settings_file.read_text()) == boot.BootSettings.from_json(
        settings.to_json())
    assert (root / "media-mounted").exists() == (role == "web")  # the migrator mounts nothing
    for copy in (log, root / "console"):  # the boot log, and the console's copy of it
        text = copy.read_text()
        assert f"threetier boot ({role}): start" in text and f"threetier boot ({role}): done" in text, copy
        assert aws["master_password"] not in text and aws["app_password"] not in text
    return root


def owner_group_mode(path: Path) -> tuple[str, str, int]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name, stat.S_IMODE(info.st_mode)


def unit_directives(unit: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.read_text().splitlines() if "=" in line and line[0].isupper())


def start_like_systemd(layout: boot.Ec2Layout, log: Path) -> subprocess.Popen:
    """What systemd does with the unit's directives: RuntimeDirectory, User, Group (and
    the user's own groups as supplementary ones), EnvironmentFile, WorkingDirectory, ExecStart."""
    unit = unit_directives(layout.unit_file)
    user, group = pwd.getpwnam(unit["User"]), grp.getgrnam(unit["Group"])
    runtime = layout.path(f"/run/{unit['RuntimeDirectory']}")
    runtime.mkdir(parents=True, exist_ok=True)
    os.chown(runtime, user.pw_uid, group.gr_gid)
    runtime.chmod(int(unit["RuntimeDirectoryMode"], 8))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **boot.read_env_file(Path(unit["EnvironmentFile"]))}
    own_groups = [g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem] + [user.pw_gid]
    return subprocess.Popen(
        shlex.split(unit["ExecStart"]), env=env, cwd=unit["WorkingDirectory"], stdout=log.open("w"),
        stderr=subprocess.STDOUT, user=user.pw_uid, group=group.gr_gid, extra_groups=own_groups,
        start_new_session=True,
    )


def get(port: int, path: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode(errors="replace")


def wait_for(port: int, path: str, timeout: float = 60) -> tuple[int, dict, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = get(port, path)
            if answer[0] != 502 or time.monotonic() > deadline:
                return answer
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def test_a_booted_web_server_serves_the_database_through_nginx_as_the_app_user(aws, database, moto_endpoint, imds):
    (port,) = allocate_ports(1)[0]  # nginx's listen port (8000 on EC2)
    roots = []
    processes: list[subprocess.Popen] = []
    try:
        roots.append(boot_instance("migrator", aws, database, port, moto_endpoint, imds))
        root = boot_instance("web", aws, database, port, moto_endpoint, imds)
        roots.append(root)
        layout = boot.Ec2Layout(root)

        # The app user has the ids the image and the EFS access point use.
        assert (pwd.getpwnam(boot.APP_USER).pw_uid, grp.getgrnam(boot.APP_USER).gr_gid) == (boot.APP_UID, boot.APP_GID)
        # The secrets layout of the contract: root's, the app's group may read, nobody else.
        assert owner_group_mode(layout.config_dir) == ("root", boot.APP_USER, contract.SECRETS_DIR_MODE)
        for name in (contract.DB_PASSWORD.name, contract.SECRET_KEY.name, "app.env"):
            assert owner_group_mode(layout.config_dir / name) == ("root", boot.APP_USER, contract.SECRET_FILE_MODE)
        assert (layout.config_dir / contract.DB_PASSWORD.name).read_text() == aws["app_password"]
        # The web server never holds the master secret: not in its settings, not on its disk.
        for instance in roots:
            for path in Path(instance).rglob("*"):
                if path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000:
                    assert aws["master_password"].encode() not in path.read_bytes(), path
        environment = boot.read_env_file(layout.app_env_file)
        assert environment[contract.INSTANCE_NAME] == INSTANCE_ID and environment[contract.AZ] == AZ

        nginx = boot.find_nginx()
        tested = subprocess.run(contract.nginx_test_command(nginx, conf=layout.nginx_conf), capture_output=True,
                                text=True)
        assert tested.returncode == 0, tested.stderr
        processes.append(start_like_systemd(layout, root / "gunicorn.log"))
        processes.append(subprocess.Popen([nginx, "-e", "stderr", "-c", str(layout.nginx_conf), "-g", "daemon off;"],
                                          start_new_session=True))

        status, headers, body = wait_for(port, "/healthz")
        log = (root / "gunicorn.log").read_text()[-3000:]
        assert status == 200, f"/healthz through nginx: {status}\n{body[:500]}\n--- gunicorn\n{log}"
        status, headers, body = get(port, "/readyz")
        assert status == 200, body[:500]
        status, headers, body = get(port, "/")  # the user list: a query as the app role
        assert status == 200, f"{status}\n{body[:1000]}\n--- gunicorn\n{log}"
        assert headers.get("X-Threetier-Instance") == INSTANCE_ID
        assert headers.get("Server") == "nginx", headers  # server_tokens off: no version
        status, _, _ = get(port, "/static/threetier/site.css")  # collected as the app user, served by nginx
        assert status == 200

        # Everything of the app runs as the app user; nginx's workers as nginx.
        master = processes[0].pid
        assert pwd.getpwuid(Path(f"/proc/{master}").stat().st_uid).pw_name == boot.APP_USER
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(layout.socket))
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
