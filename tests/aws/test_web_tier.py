"""Web servers on EC2: AL2023, IMDSv2, encrypted disks, Session Manager, the boot script's contract."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import logical_ids, user_data

from threetier.aws.app_bundle import EXCLUDES
from threetier.aws.user_data import BootSettings, app_environment, boot_script, nginx_config

pytestmark = pytest.mark.synth


def test_launch_template_requires_imdsv2_and_encrypts_ebs(synthesized):
    synthesized("default").template().has_resource_properties(
        "AWS::EC2::LaunchTemplate",
        {
            "LaunchTemplateData": Match.object_like(
                {
                    "MetadataOptions": Match.object_like({"HttpTokens": "required"}),
                    "BlockDeviceMappings": [
                        Match.object_like({"Ebs": Match.object_like({"Encrypted": True})})
                    ],
                    "InstanceType": "t3.micro",
                }
            )
        },
    )


def test_image_is_amazon_linux_2023_resolved_at_deploy_time(synthesized):
    parameters = synthesized("default").raw()["Parameters"]
    assert any(
        p.get("Default") == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-x86_64"
        for p in parameters.values()
    )


def test_no_key_pair_and_session_manager_role(synthesized):
    template = synthesized("default").template()
    assert "KeyName" not in json.dumps(template.find_resources("AWS::EC2::LaunchTemplate"))
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        Match.array_with(
                            [Match.string_like_regexp("AmazonSSMManagedInstanceCore")]
                        ),
                    ]
                }
            ]
        },
    )


@pytest.mark.parametrize(("env", "minimum", "maximum"), [("default", 2, 4), ("prod", 2, 4)])
def test_autoscaling_group_capacity_and_elb_health(synthesized, env, minimum, maximum):
    synthesized(env).template().has_resource_properties(
        "AWS::AutoScaling::AutoScalingGroup",
        {
            "MinSize": str(minimum),
            "MaxSize": str(maximum),
            "HealthCheckType": "ELB",
            "TargetGroupARNs": Match.any_value(),
        },
    )


def test_min_capacity_is_raised_to_one_per_az(synthesized):
    built = synthesized("public-web")
    assert built.spec.web.autoscaling.min_capacity == 1
    built.template().has_resource_properties("AWS::AutoScaling::AutoScalingGroup", {"MinSize": "2"})


def test_cpu_target_tracking_from_the_parameters(synthesized):
    synthesized("default").template().has_resource_properties(
        "AWS::AutoScaling::ScalingPolicy",
        {"TargetTrackingConfiguration": Match.object_like({"TargetValue": 60})},
    )


def test_user_data_fetches_secrets_and_never_holds_one(synthesized):
    script = user_data(synthesized("domain").raw())
    assert "python -m threetier.aws.boot secrets" in script
    assert "--db-secret-arn" in script and "--app-secret-arn" in script
    assert "THREETIER_DB_PASSWORD_FILE=/etc/threetier/db-password" in script
    assert "THREETIER_SECRET_KEY=" not in script
    assert "SecretString" not in script


def test_gunicorn_gets_the_app_roles_secret_and_only_migrate_the_masters(synthesized):
    built = synthesized("domain")
    template = built.template()
    (attachment,) = logical_ids(template, "AWS::SecretsManager::SecretTargetAttachment")
    (app_user,) = logical_ids(
        template,
        "AWS::SecretsManager::Secret",
        {"Description": Match.string_like_regexp("app role uda_app")},
    )
    script = user_data(built.raw())
    master_ref, app_user_ref = json.dumps({"Ref": attachment}), json.dumps({"Ref": app_user})
    # `boot secrets` writes gunicorn's password file from the app role's secret...
    start = script.index("python -m threetier.aws.boot secrets")
    secrets_step = script[start : script.index("--app-user", start)]
    assert f"--db-secret-arn '${{{app_user_ref}}}'" in secrets_step
    assert master_ref not in secrets_step
    # ...and the master secret's ARN appears once: for the migration step.
    (migrate_line,) = [line for line in script.splitlines() if "boot migrate" in line]
    assert f"--master-secret-arn '${{{master_ref}}}'" in migrate_line
    assert script.count(master_ref) == 1


def test_user_data_sets_the_webapp_contract(synthesized):
    script = user_data(synthesized("domain").raw())
    for key in (
        "DJANGO_SETTINGS_MODULE=threetier.webapp.settings.production",
        "THREETIER_DB_HOST=",
        "THREETIER_DB_PORT=",
        "THREETIER_DB_NAME=uda_psql_db",
        "THREETIER_ALLOWED_HOSTS=",
        "THREETIER_CSRF_TRUSTED_ORIGINS=https://www.example.com",
        "THREETIER_INSTANCE_NAME=$(imds instance-id)",
        "THREETIER_AZ=$(imds placement/availability-zone)",
        "THREETIER_MEDIA_BACKEND=filesystem",
        "THREETIER_STATIC_ROOT=",
        "python -m threetier.aws.boot migrate",
    ):
        assert key in script, key
    # ALLOWED_HOSTS holds the ALB's DNS name (a token) and the domain: seed 000's server_name trap.
    line = next(row for row in script.splitlines() if row.startswith("THREETIER_ALLOWED_HOSTS="))
    assert "DNSName" in line and line.endswith(",www.example.com")


def test_user_data_downloads_the_app_bundle_asset(synthesized):
    script = user_data(synthesized("default").raw())
    assert "aws s3 cp '${" in script and "s3://cdk-hnb659fds-assets-" in script
    assert "pip install" in script


def test_app_bundle_leaves_out_what_servers_never_need():
    for pattern in (".venv", "cdk.out", ".git", "node_modules", "tests", ".threetier"):
        assert pattern in EXCLUDES


def settings(**overrides) -> BootSettings:
    values = dict(
        region="ap-northeast-1",
        bundle_url="s3://b/k.zip",
        app_port=8000,
        db_host="db",
        db_port="5432",
        db_name="uda_psql_db",
        db_secret_arn="arn:db",
        app_secret_arn="arn:app",
        master_secret_arn="arn:master",
        allowed_hosts=["alb.example"],
        csrf_trusted_origins=["http://alb.example"],
        secure_cookies=False,
    )
    return BootSettings(**{**values, **overrides})


def test_nginx_answers_any_host_and_proxies_to_the_unix_socket():
    config = nginx_config(8000)
    assert "listen 8000 default_server;" in config
    assert "server_name _;" in config
    assert "proxy_pass http://unix:/run/threetier/gunicorn.sock;" in config


def test_gunicorn_binds_the_socket_nginx_reads():
    script = boot_script(settings())
    assert "--bind unix:/run/threetier/gunicorn.sock" in script
    assert "threetier.webapp.wsgi:application" in script
    assert "systemctl enable --now threetier-gunicorn.service" in script


def test_secure_cookies_follow_https():
    assert app_environment(settings())["THREETIER_SECURE_COOKIES"] == "false"
    assert app_environment(settings(secure_cookies=True))["THREETIER_SECURE_COOKIES"] == "true"


def test_extra_boot_commands_run_before_the_app_starts():
    script = boot_script(settings(extra_commands=["mount-efs-here"]))
    assert (
        script.index("mount-efs-here") < script.index("boot migrate") < script.index("enable --now")
    )


def test_deploy_waits_until_the_servers_answer_their_health_path(synthesized):
    built = synthesized("domain")
    template = built.template()
    template.has_resource(
        "AWS::AutoScaling::AutoScalingGroup",
        {
            "CreationPolicy": {"ResourceSignal": {"Count": 2, "Timeout": "PT20M"}},
            "UpdatePolicy": Match.object_like(
                {"AutoScalingRollingUpdate": Match.object_like({"WaitOnResourceSignals": True})}
            ),
        },
    )
    script = user_data(built.raw())
    assert "trap exitTrap EXIT" in script and "/opt/aws/bin/cfn-signal" in script
    probe = script.rindex("http://127.0.0.1:8000/healthz")
    assert script.rindex("systemctl enable --now") < probe < script.rindex("boot: done")
