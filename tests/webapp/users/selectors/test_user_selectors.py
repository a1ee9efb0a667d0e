"""Selectors: ordered lists, and a 404 ServiceError for what does not exist."""

from __future__ import annotations

import pytest

from threetier.webapp.errors import ServiceError
from threetier.webapp.users.selectors import user_attachment_open, user_get, user_list
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


def test_user_list_is_ordered_by_user_id():
    for user_id in ("carol", "alice", "bob"):
        user_create(user_id=user_id, user_name=user_id, password="correct horse")

    assert [u.user_id for u in user_list()] == ["alice", "bob", "carol"]


def test_user_get_of_an_unknown_id_is_a_404():
    with pytest.raises(ServiceError) as caught:
        user_get(user_id="nobody")

    assert caught.value.status == 404


def test_opening_a_missing_attachment_is_a_404():
    user = user_create(user_id="alice", user_name="Alice", password="correct horse")

    with pytest.raises(ServiceError) as caught:
        user_attachment_open(user=user)

    assert caught.value.status == 404
