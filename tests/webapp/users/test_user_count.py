"""The registry's size comes from `users_count` (kept by triggers, migration 0005), not
from COUNT(*) over every row: exact after every kind of write, and what the list page
and the API show; filtered counts still count their matches."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from threetier.webapp.users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


def counted() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM users")
        return cursor.fetchone()[0]


def test_the_counter_follows_inserts_bulk_loads_updates_and_deletes():
    start = User.objects.count()
    assert start == counted()

    User.objects.bulk_create([User(user_id=f"c{i:02d}", user_name=f"C {i}", password="!") for i in range(12)])
    User.objects.create(user_id="solo", user_name="Solo", password="!")
    assert User.objects.count() == counted() == start + 13

    User.objects.filter(user_id="solo").update(user_name="Renamed")  # an UPDATE changes nothing
    User.objects.get(user_id="c00").delete()
    User.objects.filter(user_id__startswith="c0").delete()  # one statement, nine rows
    assert User.objects.count() == counted() == start + 3

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO users (user_id, user_name, password, comment, attachment, is_staff, is_active, "
                       "is_superuser, created_at, updated_at) SELECT 'x' || g, 'X', '!', '', '', false, true, false, "
                       "now(), now() FROM generate_series(1, 40) g")
    assert User.objects.count() == counted() == start + 43


def test_truncate_resets_it():
    User.objects.create(user_id="gone", user_name="Gone", password="!")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE users CASCADE")
    assert User.objects.count() == counted() == 0


def test_the_whole_registry_is_not_counted_row_by_row_but_a_search_is():
    User.objects.bulk_create([User(user_id=f"k{i}", user_name="K", password="!") for i in range(3)])

    with CaptureQueriesContext(connection) as queries:
        total = User.objects.order_by("user_id").count()
        matches = User.objects.filter(user_id__istartswith="k").count()
    assert total == counted() and matches == 3
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql[0] == "SELECT n FROM users_count", sql
    assert "COUNT(*)" in sql[1] and "LIKE" in sql[1], sql


def test_pages_show_the_counter(client, settings):
    settings.THREETIER_PAGE_SIZE = 2
    User.objects.bulk_create([User(user_id=f"p{i}", user_name="P", password="!") for i in range(5)])
    total = counted()

    assert client.get("/api/users/").json()["count"] == total
    assert f"({total} users)" in client.get("/users/").content.decode()
