"""The list is paginated (page size from settings, next/previous links) and searchable
by user_id and user_name, on the page and in the API; search uses the indexes."""

from __future__ import annotations

import pytest
from django.db import connection

from threetier.webapp.users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


@pytest.fixture
def users(settings) -> list[str]:
    settings.THREETIER_PAGE_SIZE = 4
    ids = [f"u{i:02d}" for i in range(10)]
    User.objects.bulk_create([User(user_id=i, user_name=f"Name{i[1:]}", password="!") for i in ids])
    User.objects.create(user_id="zed", user_name="Alfred", password="!")
    return ids


def test_the_list_page_shows_one_page_with_next_and_previous_links(client, users):
    first = client.get("/users/").content.decode()
    second = client.get("/users/?page=2").content.decode()

    assert "u00" in first and "u03" in first and "u04" not in first
    assert 'rel="next" href="?page=2"' in first and 'rel="prev"' not in first
    assert "u04" in second and 'rel="prev" href="?page=1"' in second and 'rel="next" href="?page=3"' in second
    assert "Page 1 of 3 (11 users)" in first


def test_a_first_page_that_is_not_full_is_counted_from_its_rows_without_a_count_query(client, settings):
    from django.test.utils import CaptureQueriesContext

    settings.THREETIER_PAGE_SIZE = 4
    User.objects.bulk_create([User(user_id=f"v{i}", user_name=f"V{i}", password="!") for i in range(3)])
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/users/").content.decode()
    assert "Page 1 of 1 (3 users)" in page and "v2" in page
    assert not any("count" in q["sql"].lower() for q in queries.captured_queries), queries.captured_queries
    # A full first page may have more behind it: that one is counted.
    User.objects.create(user_id="v3", user_name="V3", password="!")
    User.objects.create(user_id="v4", user_name="V4", password="!")
    with CaptureQueriesContext(connection) as queries:
        assert "Page 1 of 2 (5 users)" in client.get("/users/").content.decode()
    page_queries = [q["sql"] for q in queries.captured_queries if "LIMIT" in q["sql"].upper()]
    assert len(page_queries) == 1, page_queries  # the rows fetched for the check are the page's
    assert "Page 1 of 1 (1 user)" in client.get("/users/?q=v4").content.decode()
    assert "No users yet." not in client.get("/users/?page=1").content.decode()


def test_an_out_of_range_or_bad_page_number_shows_a_page(client, users):
    assert "zed" in client.get("/users/?page=99").content.decode()  # the last page
    assert "u00" in client.get("/users/?page=abc").content.decode()  # the first


def test_the_api_is_paginated_with_count_and_links(client, users):
    body = client.get("/api/users/").json()

    assert body["count"] == 11
    assert [u["user_id"] for u in body["results"]] == ["u00", "u01", "u02", "u03"]
    assert body["next"] == "http://testserver/api/users/?page=2" and body["previous"] is None
    last = client.get("/api/users/?page=3").json()
    assert [u["user_id"] for u in last["results"]] == ["u08", "u09", "zed"] and last["next"] is None
    assert client.get("/api/users/?page=4").status_code == 404


@pytest.mark.parametrize(("query", "expected"), [("U0", ["u00", "u01", "u02", "u03"]), ("alf", ["zed"]),
                                                  ("name01", ["u01"]), ("nobody", [])])
def test_search_by_user_id_or_user_name_prefix(client, users, query, expected):
    api = client.get(f"/api/users/?q={query}").json()
    page = client.get(f"/users/?q={query}").content.decode()

    assert [u["user_id"] for u in api["results"]] == expected
    for user_id in expected:
        assert f'href="/users/{user_id}/"' in page
    if expected:
        assert f'value="{query}"' in page  # the search box keeps the query
    if query == "U0":
        assert "q=U0&amp;page=2" in page  # the next link keeps the search


def test_search_uses_the_prefix_indexes(users):
    from threetier.webapp.users.selectors import user_list

    with connection.cursor() as cursor:
        # A tiny table: ask whether the prefix indexes *can* serve it. Plain index scans are off
        # too, or the planner may walk the primary key and filter, whatever the statistics say.
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off")
        sql, params = user_list(search="al").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan")

    assert "users_user_id_prefix" in plan and "users_user_name_prefix" in plan, plan
