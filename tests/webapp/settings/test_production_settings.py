"""The production settings module, loaded fresh with a given environment."""

from __future__ import annotations

import os
import runpy
import socket
import sys

import pytest

from threetier.webapp.settings.env import SettingsError

MODULE = "threetier.webapp.settings.production"
CONTRACT = {
    "THREETIER_SECRET_KEY": "a-long-random-value-for-this-test-only",
    "THREETIER_ALLOWED_HOSTS": "app.example.com,lb-123.elb.amazonaws.com",
    "THREETIER_CSRF_TRUSTED_ORIGINS": "https://app.example.com",
    "THREETIER_STATIC_ROOT": "/var/lib/threetier/static",
    "THREETIER_MEDIA_ROOT": "/var/lib/threetier/media",
    "THREETIER_DB_HOST": "127.0.0.1,127.0.0.1",
    "THREETIER_DB_PORT": "54320,54321",
}


def load(monkeypatch, **env: str) -> dict:
    """Run base + production with exactly `env` as the THREETIER_* environment."""
    for name in [n for n in os.environ if n.startswith("THREETIER_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A fresh base too: it reads the environment when imported (restored afterwards).
    monkeypatch.delitem(sys.modules, "threetier.webapp.settings.base", raising=False)
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    return runpy.run_module(MODULE)


def test_the_contract_configures_a_safe_production(monkeypatch):
    settings = load(monkeypatch, **CONTRACT)

    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == CONTRACT["THREETIER_SECRET_KEY"]
    assert settings["ALLOWED_HOSTS"] == ["app.example.com", "lb-123.elb.amazonaws.com"]
    assert settings["CSRF_TRUSTED_ORIGINS"] == ["https://app.example.com"]
    assert settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["CSRF_COOKIE_SECURE"] is True
    assert settings["STATIC_ROOT"] == "/var/lib/threetier/static"
    assert (
        settings["STORAGES"]["staticfiles"]["BACKEND"]
        == "threetier.webapp.staticfiles.CompressedManifestStorage"
    )
    assert settings["STORAGES"]["default"]["OPTIONS"]["location"] == "/var/lib/threetier/media"
    assert settings["DATABASES"]["default"]["HOST"] == "127.0.0.1,127.0.0.1"
    assert settings["DATABASES"]["default"]["OPTIONS"]["target_session_attrs"] == "read-write"
    assert (settings["THREETIER_INSTANCE_NAME"], settings["THREETIER_AZ"]) == (
        socket.gethostname(),
        "unknown",
    )
    assert "PASSWORD_HASHERS" not in settings  # Django's default: PBKDF2
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings["MIDDLEWARE"]
    assert "django.contrib.admin" in settings["INSTALLED_APPS"]


def test_secure_cookies_can_be_turned_off(monkeypatch):
    settings = load(monkeypatch, **CONTRACT, THREETIER_SECURE_COOKIES="false")

    assert settings["SESSION_COOKIE_SECURE"] is False and settings["CSRF_COOKIE_SECURE"] is False


def test_instance_and_az_come_from_the_environment(monkeypatch):
    settings = load(
        monkeypatch, **CONTRACT, THREETIER_INSTANCE_NAME="i-0abc", THREETIER_AZ="ap-northeast-1c"
    )

    assert (settings["THREETIER_INSTANCE_NAME"], settings["THREETIER_AZ"]) == (
        "i-0abc",
        "ap-northeast-1c",
    )


@pytest.mark.parametrize(
    "missing",
    [
        "THREETIER_SECRET_KEY",
        "THREETIER_ALLOWED_HOSTS",
        "THREETIER_STATIC_ROOT",
        "THREETIER_MEDIA_ROOT",
    ],
)
def test_a_missing_required_variable_stops_start_up_naming_it(monkeypatch, missing):
    env = {k: v for k, v in CONTRACT.items() if k != missing}

    with pytest.raises(SettingsError) as caught:
        load(monkeypatch, **env)

    assert missing in str(caught.value)


def test_no_secret_reaches_the_error_message(monkeypatch):
    with pytest.raises(SettingsError) as caught:
        load(monkeypatch, **{**CONTRACT, "THREETIER_ALLOWED_HOSTS": ""})

    assert CONTRACT["THREETIER_SECRET_KEY"] not in str(caught.value)


def test_the_log_level_is_checked(monkeypatch):
    with pytest.raises(SettingsError, match="THREETIER_LOG_LEVEL"):
        load(monkeypatch, **CONTRACT, THREETIER_LOG_LEVEL="loud")

    settings = load(monkeypatch, **CONTRACT, THREETIER_LOG_LEVEL="WARNING")
    assert settings["LOGGING"]["root"]["level"] == "WARNING"
