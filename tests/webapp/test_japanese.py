"""Japanese for the seeds' readers: chosen by Accept-Language or the switcher, every
string of our UI translated (the catalogue in the repo is complete and compiled),
Django's own for the admin; times in the parameters' time zone, UTC in the API."""

from __future__ import annotations

import gettext
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from threetier.webapp.users.models import User
from threetier.webapp.users.services import user_create

pytestmark = [pytest.mark.django_db, pytest.mark.integration]  # the session's PostgreSQL

LOCALE = Path(__file__).resolve().parents[2] / "src/threetier/webapp/locale/ja/LC_MESSAGES"
JA = {"HTTP_ACCEPT_LANGUAGE": "ja,en;q=0.5"}


def test_pages_are_japanese_with_accept_language_ja(client):
    user_create(user_id="alice", user_name="Alice", password="Pa55-word-never-shown")

    listing = client.get("/users/", **JA)
    form = client.get("/users/new/", **JA).content.decode()

    html = listing.content.decode()
    assert '<html lang="ja">' in html
    assert "ユーザー" in html and "新規登録" in html and "サインイン" in html and "検索" in html
    assert "が応答" in html  # "served by ..." too
    assert "ユーザー ID" in form and "パスワード" in form and "10 文字以内" in form
    assert "Accept-Language" in listing["Vary"]


def test_english_stays_the_default(client):
    html = client.get("/users/").content.decode()

    assert '<html lang="en">' in html and "Sign up" in html and "新規登録" not in html


def test_validation_errors_are_japanese_too(client):
    response = client.post("/users/new/", {"user_id": "a" * 11, "user_name": "N", "password": "x"}, **JA)

    html = response.content.decode()
    assert "この値は 10 文字以下でなければなりません" in html or "10 文字以下" in html  # Django's own catalogue
    assert "パスワード" in html


def test_api_errors_follow_accept_language(client):
    body = client.get("/api/users/nobody/", **JA).json()

    assert body == {"detail": "ユーザー 'nobody' は見つかりません。"}


def test_the_switcher_sets_the_language_for_later_pages(client):
    page = client.get("/users/").content.decode()
    assert 'name="language" value="ja"' in page and 'action="/i18n/setlang/"' in page

    client.post("/i18n/setlang/", {"language": "ja", "next": "/users/"})

    assert '<html lang="ja">' in client.get("/users/").content.decode()


def test_the_admin_is_japanese_from_djangos_catalogue(client):
    html = client.get("/admin/login/", **JA).content.decode()

    assert "ログイン" in html


def test_the_catalogue_translates_every_message_and_is_compiled():
    po = (LOCALE / "django.po").read_text(encoding="utf-8")
    entries = [e for e in po.split("\n\n") if "msgid" in e][1:]  # the first is the header
    untranslated = [e for e in entries if re.search(r'^msgstr(\[0\])? ""$', e, re.M)]
    fuzzy = [e for e in entries if "#, fuzzy" in e]

    assert entries and not untranslated and not fuzzy, untranslated[:3] + fuzzy[:3]
    # The compiled catalogue says what the source says (regenerate: see docs/operating.md).
    with (LOCALE / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', po, re.M)
    assert len(pairs) > 50
    for msgid, msgstr in pairs:
        unescape = lambda text: text.replace('\\"', '"')  # noqa: E731
        assert compiled.gettext(unescape(msgid)) == unescape(msgstr), msgid


def test_times_show_in_the_configured_zone_and_utc_in_the_api(client, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    user_create(user_id="alice", user_name="Alice", password="Pa55-word-never-shown")
    User.objects.filter(user_id="alice").update(updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))

    page = client.get("/users/alice/").content.decode()
    api = client.get("/api/users/alice/").json()

    assert "2026-01-02 12:04:05 JST" in page
    assert api["updated_at"] == "2026-01-02T03:04:05Z"
