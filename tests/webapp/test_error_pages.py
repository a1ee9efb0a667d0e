"""Error pages: no traceback, no exception text, the instance still named."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.mark.urls("support.webapp_boom_urls")
def test_a_server_error_page_leaks_nothing(settings, caplog):
    settings.THREETIER_INSTANCE_NAME = "web-1a"

    response = Client(raise_request_exception=False).get("/boom")

    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "served by web-1a" in html
    for leak in ("Traceback", "RuntimeError", "hunter2", "local-variable-secret"):
        assert leak not in html
    assert response["X-Threetier-Instance"] == "web-1a"


def test_a_disallowed_host_is_a_plain_400(client):
    response = client.get("/users/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert "evil.example" not in response.content.decode()
