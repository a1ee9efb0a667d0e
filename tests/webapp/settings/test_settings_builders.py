"""The environment → settings builders: database, storages, typed accessors."""

from __future__ import annotations

import pytest

from threetier.webapp.settings.builders import database_config, storages_config
from threetier.webapp.settings.env import SettingsError, env_bool, env_int, env_list, env_secret


def test_database_passes_multi_host_lists_and_failover_options_through():
    config = database_config(
        {"THREETIER_DB_HOST": "127.0.0.1, 127.0.0.2", "THREETIER_DB_PORT": "54320,54321"}
    )

    assert config["HOST"] == "127.0.0.1,127.0.0.2"
    assert config["PORT"] == "54320,54321"
    assert config["OPTIONS"]["target_session_attrs"] == "read-write"
    assert config["OPTIONS"]["connect_timeout"] == 3
    # Persistent connections, checked in each request to still be on a writable primary.
    assert config["CONN_MAX_AGE"] == 60 and config["CONN_HEALTH_CHECKS"] is True
    assert config["ENGINE"] == "threetier.webapp.postgresql"


def test_connection_age_comes_from_the_environment_and_zero_is_one_per_request():
    assert database_config({"THREETIER_DB_CONN_MAX_AGE": "0"})["CONN_MAX_AGE"] == 0
    assert database_config({"THREETIER_DB_CONN_MAX_AGE": "300"})["CONN_MAX_AGE"] == 300
    with pytest.raises(SettingsError):
        database_config({"THREETIER_DB_CONN_MAX_AGE": "-1"})


def test_database_reads_name_user_timeout_and_sslmode():
    config = database_config(
        {
            "THREETIER_DB_NAME": "app",
            "THREETIER_DB_USER": "web",
            "THREETIER_DB_CONNECT_TIMEOUT": "5",
            "THREETIER_DB_SSLMODE": "require",
        }
    )

    assert (config["NAME"], config["USER"]) == ("app", "web")
    assert config["OPTIONS"]["connect_timeout"] == 5
    assert config["OPTIONS"]["sslmode"] == "require"


def test_database_reads_the_password_from_its_file(tmp_path):
    secret_file = tmp_path / "db-password"
    secret_file.write_text("s3cret-value\n")
    secret_file.chmod(0o600)

    config = database_config(
        {"THREETIER_DB_PASSWORD_FILE": str(secret_file), "THREETIER_DB_PASSWORD": "other"}
    )

    assert config["PASSWORD"] == "s3cret-value"


def test_an_unreadable_password_file_names_the_variable_not_the_value(tmp_path):
    with pytest.raises(SettingsError) as caught:
        database_config({"THREETIER_DB_PASSWORD_FILE": str(tmp_path / "missing")})

    assert "THREETIER_DB_PASSWORD_FILE" in str(caught.value)


def test_a_port_list_not_matching_the_hosts_is_refused():
    with pytest.raises(SettingsError, match="3 ports for the 2 hosts"):
        database_config({"THREETIER_DB_HOST": "a,b", "THREETIER_DB_PORT": "1,2,3"})


def test_a_non_numeric_port_is_refused():
    with pytest.raises(SettingsError, match="'x5432'"):
        database_config({"THREETIER_DB_PORT": "x5432"})


def test_storage_is_the_shared_directory_by_default():
    config = storages_config(
        {"THREETIER_MEDIA_ROOT": "/mnt/efs/media"}, default_media_root=None, static_backend="S"
    )

    assert config["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert config["default"]["OPTIONS"]["location"] == "/mnt/efs/media"
    assert config["staticfiles"] == {"BACKEND": "S"}


def test_production_storage_needs_a_media_root():
    with pytest.raises(SettingsError, match="THREETIER_MEDIA_ROOT is not set"):
        storages_config({}, default_media_root=None, static_backend="S")


def test_s3_storage_uses_the_bucket_privately():
    config = storages_config(
        {"THREETIER_MEDIA_BACKEND": "S3", "THREETIER_MEDIA_BUCKET": "media-bucket"},
        default_media_root=None,
        static_backend="S",
    )

    assert config["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert config["default"]["OPTIONS"]["bucket_name"] == "media-bucket"
    assert config["default"]["OPTIONS"]["default_acl"] is None


def test_s3_storage_needs_a_bucket():
    with pytest.raises(SettingsError, match="THREETIER_MEDIA_BUCKET"):
        storages_config(
            {"THREETIER_MEDIA_BACKEND": "s3"}, default_media_root="/x", static_backend="S"
        )


def test_an_unknown_media_backend_is_refused():
    with pytest.raises(SettingsError, match="filesystem, s3"):
        storages_config(
            {"THREETIER_MEDIA_BACKEND": "nfs"}, default_media_root="/x", static_backend="S"
        )


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("YES", True), ("1", True), ("off", False), ("", True)]
)
def test_env_bool(raw, expected):
    assert env_bool("FLAG", default=True, environ={"FLAG": raw}) is expected


def test_env_bool_refuses_anything_else():
    with pytest.raises(SettingsError, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", default=True, environ={"FLAG": "maybe"})


def test_env_int_refuses_words_and_small_numbers():
    with pytest.raises(SettingsError, match="not a whole number"):
        env_int("N", default=3, environ={"N": "three"})
    with pytest.raises(SettingsError, match="below 1"):
        env_int("N", default=3, minimum=1, environ={"N": "0"})


def test_env_list_drops_blanks():
    assert env_list("HOSTS", environ={"HOSTS": " a.example, ,b.example,"}) == [
        "a.example",
        "b.example",
    ]


def test_a_missing_secret_says_which_and_how_to_fix_it():
    with pytest.raises(SettingsError) as caught:
        env_secret("THREETIER_SECRET_KEY", environ={"THREETIER_SECRET_KEY": "  "})

    assert "THREETIER_SECRET_KEY is not set" in str(caught.value)
    assert "fix:" in str(caught.value)


# --- time zone, rates, proxies ---------------------------------------------------------


def test_the_display_time_zone_follows_the_region_unless_set():
    from threetier.webapp.settings.builders import display_time_zone

    assert display_time_zone({"AWS_DEFAULT_REGION": "ap-northeast-1"}) == "Asia/Tokyo"
    assert display_time_zone({"AWS_DEFAULT_REGION": "ap-northeast-1", "THREETIER_TIME_ZONE": "UTC"}) == "UTC"
    assert display_time_zone({}) == "UTC"
    with pytest.raises(SettingsError, match="THREETIER_TIME_ZONE='Mars/Olympus' is not a time zone"):
        display_time_zone({"THREETIER_TIME_ZONE": "Mars/Olympus"})


@pytest.mark.parametrize("value", ["10", "ten/minute", "0/minute", "10/fortnight", "-1/hour"])
def test_a_malformed_throttle_rate_stops_start_up(value):
    from threetier.webapp.settings.env import env_rate

    with pytest.raises(SettingsError, match="THREETIER_SIGNUP_RATE"):
        env_rate("THREETIER_SIGNUP_RATE", default="10/minute", environ={"THREETIER_SIGNUP_RATE": value})


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "", "10.0.0.9"),  # no proxy wrote one: the peer
        (1, "203.0.113.7", "203.0.113.7"),  # the twin's Caddy, an ALB
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client's own entry is ignored
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.5", "203.0.113.7"),  # ALB → nginx
        (2, "203.0.113.7", "203.0.113.7"),
        (0, "203.0.113.7", "10.0.0.9"),  # no proxy trusted
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(settings, proxies, forwarded, expected):
    from django.test import RequestFactory

    from threetier.webapp.clients import client_ip

    settings.THREETIER_PROXY_COUNT = proxies
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", headers=headers)

    assert client_ip(request) == expected


def test_the_secret_key_may_come_from_a_file_as_in_the_instances_environment_file(tmp_path):
    key = tmp_path / "django-secret-key"
    key.write_text("from-a-file\n")

    assert env_secret("THREETIER_SECRET_KEY", environ={"THREETIER_SECRET_KEY_FILE": str(key)}) == "from-a-file"
    with pytest.raises(SettingsError, match="THREETIER_SECRET_KEY is not set"):
        env_secret("THREETIER_SECRET_KEY", environ={})
