"""Django for tests/webapp only, against a real PostgreSQL started for the session.

pytest-django configures Django when DJANGO_SETTINGS_MODULE is set at start-up, which
would make every folder's tests Django tests. Instead this conftest (loaded only when
tests/webapp is collected) sets up Django with the test settings in its own
`pytest_configure`, then removes the variable again so processes that other folders'
tests start do not inherit it. pytest-django sees `settings.configured` from then on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.webapp_postgres import SUPERUSER, PostgresServer, start_server, stop_server
from support.webapp_server import Deployed, deployed_app

TEST_SETTINGS = "threetier.webapp.settings.test"


def pytest_configure(config: pytest.Config) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        previous = os.environ.get("DJANGO_SETTINGS_MODULE")
        os.environ["DJANGO_SETTINGS_MODULE"] = TEST_SETTINGS
        try:
            settings.INSTALLED_APPS  # noqa: B018 - loads the settings now
        finally:
            if previous is None:
                del os.environ["DJANGO_SETTINGS_MODULE"]
            else:
                os.environ["DJANGO_SETTINGS_MODULE"] = previous
    django.setup()
    # pytest-django blocks database access outside tests that ask for it (db fixture).
    from pytest_django.plugin import blocking_manager_key

    config.stash[blocking_manager_key].block()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def deployed(postgres_server: PostgresServer, tmp_path_factory) -> Iterator[Deployed]:
    """The app as the instances run it: migrate, collectstatic, gunicorn on a loopback port."""
    with deployed_app(postgres_server, tmp_path_factory.mktemp("e2e")) as app:
        yield app


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server: PostgresServer) -> None:
    """Point the default database at the session's server; pytest-django then creates
    test_<name> there and migrates it once."""
    from django.conf import settings

    settings.DATABASES["default"].update(
        HOST="127.0.0.1",
        PORT=str(postgres_server.port),
        USER=SUPERUSER,
        PASSWORD=postgres_server.password,
    )


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every test gets its own shared-media directory."""
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    settings.MEDIA_ROOT = str(root)
    return root
