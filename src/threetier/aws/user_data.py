"""The web servers' user data: the few bash lines that get the boot program onto the
instance, then `python -m threetier.aws.boot ROLE` (threetier.aws.boot does the rest:
seed 000's nginx → gunicorn (unix socket) → Django, automated, from
threetier.runtime.contract).

Bash does only what must come before Python can run from the bundle, each for a reason:

- the log: everything below goes to BOOT_LOG and to the instance's console, whose last
  64 KB `aws ec2 get-console-output` returns for an hour after the instance is gone (the
  migrator terminates itself, also when it fails, and ships no log of its own);
- `dnf install python3.11 aws-cfn-bootstrap`: Amazon Linux 2023's own Python is 3.9 and
  the wheelhouse is CPython 3.11's; cfn-signal must work even when the program fails;
- the log agent (web servers): installed first, so even a failed boot's log arrives;
- the bundle: `aws s3 cp` (the AWS CLI comes with the AMI) and `python3.11 -m zipfile`.
  The program is inside the bundle, so it cannot fetch it; the instance role may read
  that one object (web_tier.read_bundle);
- the media mount (web servers only: the migrator's role has no EFS grant, and
  migrating touches no upload);
- the settings file, then the program.

tests/aws/test_boot_rehearsal.py runs this script itself (paths under a temporary root,
dnf a stub), with the real AWS CLI against moto when it is installed.

Values that only exist at deploy time (the ALB's DNS name, the database endpoint, the
secrets' ARNs, the bundle's S3 URL) arrive as CDK tokens inside the strings and become
`Fn::Join`s in the template. No secret value is ever in here: only where to fetch it.
"""

from __future__ import annotations

from threetier.aws.boot import APP_GID, APP_UID, APP_USER, BOOT_LOG, PYTHON, BootSettings, Ec2Layout
from threetier.runtime import contract

__all__ = ["APP_GID", "APP_UID", "APP_USER", "DEFAULT_MEDIA_ROOT", "BootSettings", "boot_commands", "boot_script"]

LAYOUT = Ec2Layout()
DEFAULT_MEDIA_ROOT = "/var/lib/threetier/media"
APP_LOG = str(LAYOUT.app_log)
SOCKET = str(LAYOUT.socket)
PASSWORD_FILE = str(LAYOUT.config_dir / contract.DB_PASSWORD.name)


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


def boot_script(settings: BootSettings, *, role: str = "web") -> str:
    """The whole user data script (bash), as a file would hold it."""
    return "#!/bin/bash\n" + boot_commands(settings, role=role)


def boot_commands(settings: BootSettings, *, role: str = "web") -> str:
    """The user data's steps for `role` ("web" or "migrator"). Logs go to BOOT_LOG,
    secrets never do. The web role's last step asks nginx → gunicorn → Django for the
    health path on the instance itself: the boot only succeeds (and signals
    CloudFormation so) when the app answers."""
    if role == "web" and settings.master_secret_arn:
        raise ValueError("a web server's settings never name the master secret")
    layout = LAYOUT
    bundle = layout.app_dir / "bundle.zip"
    extra = "\n".join(settings.extra_commands) if role == "web" else ""
    return f"""set -euo pipefail
exec > >(tee -a {BOOT_LOG} >/dev/console) 2>&1
echo "threetier boot ({role}): start $(date -Is)"

dnf install -y {PYTHON} aws-cfn-bootstrap
{log_shipping_commands(settings.log_group) if role == "web" else ""}
# The app bundle (seed 001, requirement 5): code, hash-locked wheelhouse, lock file.
mkdir -p {layout.app_dir}
aws s3 cp '{settings.bundle_url}' {bundle} --region {settings.region} --only-show-errors
rm -rf {layout.release} && {PYTHON} -m zipfile -e {bundle} {layout.release}
{extra}
cat >{layout.settings_file} <<'THREETIER_BOOT'
{settings.to_json()}
THREETIER_BOOT
PYTHONPATH={layout.release / "src"} {PYTHON} -m threetier.aws.boot {role} --settings {layout.settings_file} 2>&1 \
  || {{ echo "threetier boot: {role} failed"; exit 1; }}
echo "threetier boot ({role}): done $(date -Is)"
"""
