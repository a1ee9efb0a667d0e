"""Every response names the instance that served it (X-Threetier-Instance / -AZ)."""

from __future__ import annotations

import pytest

from threetier.webapp.middleware import AZ_HEADER, INSTANCE_HEADER

pytestmark = pytest.mark.integration  # the session's PostgreSQL


@pytest.fixture
def web_1a(settings):
    settings.THREETIER_INSTANCE_NAME = "web-1a"
    settings.THREETIER_AZ = "ap-northeast-1a"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "host", "status"),
    [
        ("/", "testserver", 200),
        ("/api/users/", "testserver", 200),
        ("/no/such/page", "testserver", 404),
        ("/healthz", "testserver", 200),
        ("/readyz", "testserver", 200),
        ("/whoami", "testserver", 200),
        ("/", "not-allowed.example", 400),
    ],
)
def test_every_response_carries_the_instance_headers(client, web_1a, path, host, status):
    response = client.get(path, HTTP_HOST=host)

    assert response.status_code == status
    assert response[INSTANCE_HEADER] == "web-1a"
    assert response[AZ_HEADER] == "ap-northeast-1a"


@pytest.mark.django_db
def test_pages_show_the_instance_and_az(client, web_1a):
    html = client.get("/users/").content.decode()

    assert (
        'served by <strong class="instance">web-1a</strong> in '
        '<strong class="az">ap-northeast-1a</strong>' in html
    )
