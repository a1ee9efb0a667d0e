"""The web servers' boot script: seed 000's nginx → gunicorn (unix socket) → Django, automated.

Values that only exist at deploy time (the ALB's DNS name, the database endpoint, the
secrets' ARNs, the bundle's S3 URL) arrive as CDK tokens inside the strings and become
`Fn::Join`s in the template. No secret value is ever in here: only where to fetch it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

APP_USER = "threetier"
# The app user's uid/gid on every web server, in the container image (Dockerfile) and on
# the EFS access point: equal ids keep file ownership the same whichever tier wrote a file.
APP_UID = 10001
APP_GID = 10001
APP_DIR = "/opt/threetier"
CONFIG_DIR = "/etc/threetier"
APP_ENV_FILE = f"{CONFIG_DIR}/app.env"
SECRET_ENV_FILE = f"{CONFIG_DIR}/secret.env"
PASSWORD_FILE = f"{CONFIG_DIR}/db-password"
SOCKET = "/run/threetier/gunicorn.sock"
STATIC_ROOT = "/var/lib/threetier/static"
DEFAULT_MEDIA_ROOT = "/var/lib/threetier/media"
APP_LOG = "/var/log/threetier/app.log"
BOOT_LOG = "/var/log/threetier-boot.log"
WSGI_APP = "threetier.webapp.wsgi:application"
SETTINGS_MODULE = "threetier.webapp.settings.production"


@dataclass(frozen=True)
class BootSettings:
    """Everything a web server needs to know at boot (tokens allowed in every string)."""

    region: str
    bundle_url: str
    app_port: int
    db_host: str
    db_port: str
    db_name: str
    db_secret_arn: str  # the app role's credentials: all gunicorn gets
    app_secret_arn: str  # the Django secret key
    # The master's credentials: read by the migration step only, never written to disk.
    master_secret_arn: str
    allowed_hosts: Sequence[str]
    csrf_trusted_origins: Sequence[str]
    secure_cookies: bool
    media_backend: str = "filesystem"
    media_root: str = DEFAULT_MEDIA_ROOT
    media_bucket: str = ""
    # Probed on the instance itself before the boot reports success to CloudFormation.
    health_path: str = "/healthz"
    # Run before the app starts, e.g. mounting the shared media file system (EFS).
    extra_commands: Sequence[str] = field(default_factory=tuple)
    # The CloudWatch Logs group the app's, nginx's and the boot's logs are shipped to ("" = none).
    log_group: str = ""


def app_environment(settings: BootSettings) -> dict[str, str]:
    """The webapp's non-secret environment (its contract); instance name and AZ come from IMDS at boot."""
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "THREETIER_DB_HOST": settings.db_host,
        "THREETIER_DB_PORT": settings.db_port,
        "THREETIER_DB_NAME": settings.db_name,
        "THREETIER_DB_PASSWORD_FILE": PASSWORD_FILE,
        # The parameter group sets rds.force_ssl: say so rather than rely on libpq's "prefer".
        "THREETIER_DB_SSLMODE": "require",
        # The seed's server_name trap: the names the ALB and the domain send as Host.
        "THREETIER_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
        "THREETIER_CSRF_TRUSTED_ORIGINS": ",".join(settings.csrf_trusted_origins),
        "THREETIER_SECURE_COOKIES": "true" if settings.secure_cookies else "false",
        "THREETIER_MEDIA_BACKEND": settings.media_backend,
        "THREETIER_MEDIA_ROOT": settings.media_root,
        "THREETIER_MEDIA_BUCKET": settings.media_bucket,
        "THREETIER_STATIC_ROOT": STATIC_ROOT,
        # boto3 (django-storages' S3 backend) does not read the region from IMDS.
        "AWS_DEFAULT_REGION": settings.region,
    }


def nginx_config(app_port: int) -> str:
    """`server_name _` answers whatever Host the ALB's health checker sends; Django validates hosts."""
    return f"""server {{
    listen {app_port} default_server;
    server_name _;
    client_max_body_size 10m;
    location /static/ {{
        alias {STATIC_ROOT}/;
        expires 1h;
    }}
    location / {{
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;
        proxy_pass http://unix:{SOCKET};
    }}
}}
"""


def gunicorn_unit(media_root: str = DEFAULT_MEDIA_ROOT) -> str:
    """gunicorn as a systemd unit; its output goes to APP_LOG (shipped to CloudWatch Logs).

    RequiresMountsFor: after a reboot the app waits for the media mount (EFS, from
    /etc/fstab) instead of writing uploads into the empty local directory (seed 001's trap).
    """
    return f"""[Unit]
Description=threetier web app (gunicorn)
After=network-online.target
Wants=network-online.target
RequiresMountsFor={media_root}

[Service]
User={APP_USER}
Group=nginx
EnvironmentFile={APP_ENV_FILE}
EnvironmentFile={SECRET_ENV_FILE}
RuntimeDirectory=threetier
RuntimeDirectoryMode=0755
ExecStart={APP_DIR}/venv/bin/gunicorn --workers 3 --umask 007 --bind unix:{SOCKET} --access-logfile - {WSGI_APP}
StandardOutput=append:{APP_LOG}
StandardError=append:{APP_LOG}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def cloudwatch_agent_config(log_group: str) -> str:
    """The CloudWatch agent's configuration: the app's, nginx's and the boot's log files,
    one stream per instance and file, into `log_group` (a token is fine)."""
    files = [(APP_LOG, "app"), ("/var/log/nginx/access.log", "nginx-access"),
             ("/var/log/nginx/error.log", "nginx-error"), (BOOT_LOG, "boot")]
    entries = ",\n".join(
        f'        {{"file_path": "{path}", "log_group_name": "{log_group}", '
        f'"log_stream_name": "{{instance_id}}/{stream}"}}'
        for path, stream in files
    )
    return (
        '{"logs": {"logs_collected": {"files": {"collect_list": [\n'
        f"{entries}\n"
        "]}}}}\n"
    )


def log_shipping_commands(log_group: str) -> str:
    """Install and start the CloudWatch agent first, so even a failed boot's log arrives."""
    if not log_group:
        return ""
    config = "/opt/aws/amazon-cloudwatch-agent/etc/threetier.json"
    return f"""# App logs to CloudWatch Logs (seed 002), rotated locally so the disk never fills.
dnf install -y amazon-cloudwatch-agent logrotate
mkdir -p /var/log/threetier /opt/aws/amazon-cloudwatch-agent/etc
cat >{config} <<'THREETIER_CWAGENT'
{cloudwatch_agent_config(log_group)}THREETIER_CWAGENT
cat >/etc/logrotate.d/threetier <<'THREETIER_LOGROTATE'
{APP_LOG} {{
    daily
    rotate 3
    missingok
    notifempty
    copytruncate
}}
THREETIER_LOGROTATE
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{config}
"""


def boot_script(settings: BootSettings) -> str:
    """The whole user data script (bash), as a file would hold it."""
    return "#!/bin/bash\n" + boot_commands(settings)


def boot_commands(settings: BootSettings) -> str:
    """The boot steps. Logs go to /var/log/threetier-boot.log, secrets never do.

    The last step asks nginx → gunicorn → Django for the health path on the instance
    itself: the boot only succeeds (and signals CloudFormation so) when the app answers.
    """
    env_lines = "\n".join(f"{key}={value}" for key, value in app_environment(settings).items())
    extra = "\n".join(settings.extra_commands)
    python = f"{APP_DIR}/venv/bin/python"
    migrate_args = f" --region {settings.region} --master-secret-arn '{settings.master_secret_arn}'"
    return f"""set -euo pipefail
exec >>{BOOT_LOG} 2>&1
echo "threetier boot: start $(date -Is)"

dnf install -y nginx python3.11 python3.11-pip unzip aws-cfn-bootstrap
{log_shipping_commands(settings.log_group)}
getent group {APP_USER} >/dev/null || groupadd --system --gid {APP_GID} {APP_USER}
id {APP_USER} >/dev/null 2>&1 || useradd --system --uid {APP_UID} --gid {APP_GID} --home-dir {APP_DIR} --shell /sbin/nologin {APP_USER}
mkdir -p {APP_DIR} {CONFIG_DIR} {STATIC_ROOT} {settings.media_root}
chmod 700 {CONFIG_DIR}

# The app: this repository's package, from the CDK asset (seed 001, requirement 5).
aws s3 cp '{settings.bundle_url}' {APP_DIR}/app.zip --region {settings.region} --only-show-errors
rm -rf {APP_DIR}/app && mkdir -p {APP_DIR}/app && unzip -q {APP_DIR}/app.zip -d {APP_DIR}/app
python3.11 -m venv {APP_DIR}/venv
{APP_DIR}/venv/bin/pip install --quiet --disable-pip-version-check {APP_DIR}/app

# Who am I: IMDSv2 only (the launch template requires tokens).
IMDS_TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
imds() {{ curl -sS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }}

cat >{APP_ENV_FILE} <<'THREETIER_ENV'
{env_lines}
THREETIER_ENV
echo "THREETIER_INSTANCE_NAME=$(imds instance-id)" >>{APP_ENV_FILE}
echo "THREETIER_AZ=$(imds placement/availability-zone)" >>{APP_ENV_FILE}
chmod 600 {APP_ENV_FILE}

# Secrets: fetched from Secrets Manager into root-only files; never echoed.
{python} -m threetier.aws.boot secrets --region {settings.region} \\
  --db-secret-arn '{settings.db_secret_arn}' --app-secret-arn '{settings.app_secret_arn}' \\
  --password-file {PASSWORD_FILE} --secret-env-file {SECRET_ENV_FILE} --app-user {APP_USER}

{extra}
chown -R {APP_USER}:{APP_USER} {settings.media_root} {STATIC_ROOT}

set -a; . {APP_ENV_FILE}; . {SECRET_ENV_FILE}; set +a
# Once per deploy: every instance waits for the same advisory lock, so they never race.
# As master: ensure the app role and its grants; then migrate as the app role.
{python} -m threetier.aws.boot migrate{migrate_args}
{python} -m threetier.webapp collectstatic --noinput

cat >/etc/systemd/system/threetier-gunicorn.service <<'THREETIER_UNIT'
{gunicorn_unit(settings.media_root)}THREETIER_UNIT
cat >/etc/nginx/conf.d/threetier.conf <<'THREETIER_NGINX'
{nginx_config(settings.app_port)}THREETIER_NGINX
systemctl daemon-reload
systemctl enable --now threetier-gunicorn.service
systemctl enable nginx && systemctl restart nginx
curl -fsS --retry 30 --retry-delay 2 --retry-connrefused -o /dev/null \\
  http://127.0.0.1:{settings.app_port}{settings.health_path}
echo "threetier boot: done $(date -Is)"
"""
