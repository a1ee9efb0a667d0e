"""The user list's cost per row: the page rendered with 10 and with 1,000 users, in-process.

    .venv/bin/python benchmarks/list_rows.py [--repeat 20]

No database and no server: unsaved users, an anonymous visitor, the list view's own
row-building (threetier.webapp.users.views.user_rows when the checkout has it, else
the (user, can_change) pairs the template used to take) and the real template with its
context processors. Per row = (time at 1,000 rows − time at 10 rows) / 990, the median
of `--repeat` renders each, so the page's fixed cost cancels out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "threetier.webapp.settings.test")
os.environ.setdefault("THREETIER_DB_PASSWORD", "unused")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.core.paginator import Paginator  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from threetier.webapp.users import views  # noqa: E402
from threetier.webapp.users.models import User  # noqa: E402

SMALL, LARGE = 10, 1000


def users(count: int) -> list[User]:
    return [User(user_id=f"u{i:05d}", user_name=f"User {i}", comment="a comment " * 12)
            for i in range(count)]


def render_list(request, people: list[User]) -> int:  # noqa: ANN001 - a Django request
    page = Paginator(people, LARGE).get_page(1)
    if hasattr(views, "user_rows"):
        rows = views.user_rows(page, request.user)
    else:  # the checkout before the list built its links once per request
        rows = [(user, user.can_be_changed_by(request.user)) for user in page]
    response = render(request, "users/list.html", {"page": page, "rows": rows, "query": ""})
    return len(response.content)


def timed(request, people: list[User], repeat: int) -> float:  # noqa: ANN001
    render_list(request, people)  # templates compiled, translations loaded
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        render_list(request, people)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    settings.THREETIER_PAGE_SIZE = LARGE
    builder = "user_rows (links from one reverse() per name)" if hasattr(views, "user_rows") else \
        "(user, can_change) pairs, {% url %} per link"
    print(f"rows built by: {builder}")
    # Anonymous: one link per row (the user's page); staff: three (page, edit, delete).
    for label, viewer in (("anonymous", AnonymousUser()), ("staff", User(user_id="admin", is_staff=True))):
        request = RequestFactory().get("/users/")
        request.user = viewer
        small, large = timed(request, users(SMALL), args.repeat), timed(request, users(LARGE), args.repeat)
        per_row_us = 1e6 * (large - small) / (LARGE - SMALL)
        print(f"{label:9}  {SMALL} rows: {1000 * small:6.2f} ms   {LARGE} rows: {1000 * large:7.2f} ms   "
              f"per row: {per_row_us:5.1f} µs   (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
