"""A user's Django project, made as a user makes one: `django-admin startproject mysite`,
`manage.py startapp notes` with one model and one page, `makemigrations`; then either the
settings snippet of docs/apps.md appended (ready for two instances) or left as
startproject wrote them plus an instance-local cache for sessions (SQLite, LocMemCache,
DEBUG = True: what `check` must name)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REQUIREMENTS = "Django>=5.2,<6\npsycopg[binary]>=3.2\ndj-database-url>=2\n"

# docs/apps.md's snippet, as a user pastes it at the end of settings.py.
CONTRACT_SNIPPET = '''
# --- threetier: read the 12-factor contract (docs/apps.md) ---
import os

import dj_database_url

SECRET_KEY = os.environ.get("THREETIER_SECRET_KEY", SECRET_KEY)
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("THREETIER_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("THREETIER_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
DATABASES = {"default": dj_database_url.config(
    default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True)}
STATIC_ROOT = os.environ.get("THREETIER_STATIC_ROOT") or BASE_DIR / "staticfiles"
MEDIA_ROOT = os.environ.get("THREETIER_MEDIA_ROOT") or BASE_DIR / "media"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
'''

LOCAL_STATE_SNIPPET = '''
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
'''

MODELS = '''from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
'''

VIEWS = '''import os

from django.http import HttpResponse

from notes.models import Note


def index(request):
    """The app's page: a note per visit, the session's visit count, and who served it."""
    Note.objects.create(text="visit")
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(
        f"<h1>notes</h1><p>{Note.objects.count()} notes; this session's visits: {request.session['visits']}; "
        f"served by {os.environ.get('THREETIER_INSTANCE_NAME', '?')}</p>"
    )
'''

URLS = '''from django.contrib import admin
from django.urls import path

from notes.views import index

urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
]
'''


def make_project(root: Path, *, ready: bool = True, local_sessions: bool = False) -> Path:
    """`root`/mysite: startproject + startapp notes + makemigrations, with the contract's
    snippet (`ready`) or with SQLite and an instance-local cache for sessions."""
    project = root / "mysite"
    project.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(project)], check=True)
    subprocess.run([sys.executable, "manage.py", "startapp", "notes"], cwd=project, check=True)
    (project / "notes" / "models.py").write_text(MODELS)
    (project / "notes" / "views.py").write_text(VIEWS)
    (project / "mysite" / "urls.py").write_text(URLS)
    settings = project / "mysite" / "settings.py"
    text = settings.read_text().replace("'django.contrib.staticfiles',", "'django.contrib.staticfiles',\n    'notes',")
    settings.write_text(text)
    # Before the snippet: the tool's Python has Django but not dj-database-url.
    subprocess.run([sys.executable, "manage.py", "makemigrations", "notes"], cwd=project, check=True,
                   env={"PATH": "/usr/bin:/bin"}, capture_output=True)
    (project / "db.sqlite3").unlink(missing_ok=True)  # makemigrations' consistency check made it
    settings.write_text(text + (CONTRACT_SNIPPET if ready else "") + (
        LOCAL_STATE_SNIPPET if local_sessions or not ready else ""))
    (project / "requirements.txt").write_text(REQUIREMENTS if ready else "Django>=5.2,<6\n")
    return project


def app_section(project: Path, **extra: str) -> str:
    lines = ["[app]", f'source = "{project}"', 'settings = "mysite.settings"']
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def with_app(parameters: Path, section: str) -> None:
    """Give a parameters file written by support.twin_helpers.write_project this [app] table
    (its own [app] went with the [local] it replaced)."""
    text = parameters.read_text()
    assert "\n[app]" not in text, "the file has an [app] table already"
    parameters.write_text(text + "\n" + section)
