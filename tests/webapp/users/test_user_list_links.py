"""The list page builds its rows in the view: links from one reverse() per link name per
request, exactly what reverse() gives, for a visitor and for staff; the comment's
preview exactly what `truncatechars:80` gave, in English and Japanese."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import translation

from threetier.webapp.users.models import User
from threetier.webapp.users.views import ROW_LINKS, comment_previewer, user_rows

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL


def test_each_rows_links_equal_reverse_for_every_user_id_shape():
    people = [User(user_id=uid, user_name="n") for uid in ("a", "Z9", "u_1-x", "0", "__id__x", "abcdefghij")]
    staff = User(user_id="boss", is_staff=True)
    for viewer, can_change in ((AnonymousUser(), False), (staff, True)):
        for row in user_rows(people, viewer):
            assert row.can_change is can_change
            for name in ROW_LINKS:
                assert getattr(row, f"{name}_url") == reverse(f"users:{name}", args=[row.user_id])


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_comment_preview_is_what_truncatechars_gave(language):
    texts = ["", "short", "x" * 80, "x" * 81, "a comment " * 20, "日本語のコメント" * 20, "e\u0301" * 90,
             "mixed ascii then é " * 10]
    with translation.override(language):
        preview = comment_previewer()
        for text in texts:
            assert preview(text) == truncatechars(text, 80), text


def test_the_page_shows_the_same_links_a_url_tag_would(client):
    User.objects.create_user(user_id="lnk01", user_name="Link", password="a-long-password-1")
    staff = User.objects.create_user(user_id="staff1", user_name="Staff", password="a-long-password-1",
                                     is_staff=True)
    client.force_login(staff)
    page = client.get("/users/").content.decode()
    for name in ("detail", "edit", "delete"):
        assert f'href="{reverse(f"users:{name}", args=["lnk01"])}"' in page
    assert ">edit</a>" in page and ">delete</a>" in page and 'data-label="User ID"' in page
