"""threetier.init.detect: what init finds in an app's source, read and never run: a Django
project from `startproject` (manage.py, settings, WSGI), split settings, a plain WSGI app,
the requirements (a file or pyproject.toml) and the Python version."""

from __future__ import annotations


import pytest
from support.startproject import startproject

from threetier.init.detect import detect_app
from threetier.init.inputs import BadInputError


def test_a_startproject_project_is_found_from_its_files(tmp_path):
    source = startproject(tmp_path / "mysite")
    (source / "requirements.txt").write_text("django==5.2.19\n")
    app = detect_app(source)
    assert (app.kind, app.settings, app.wsgi) == ("django", "mysite.settings", "mysite.wsgi:application")
    assert app.requirements == "requirements.txt" and app.collectstatic is True
    assert "manage.py sets DJANGO_SETTINGS_MODULE" in app.found["settings"]
    assert app.found["wsgi"] == "WSGI_APPLICATION in mysite/settings.py"


def test_split_settings_take_the_wsgi_modules_default_over_manage_py(tmp_path):
    source = tmp_path / "shop"
    (source / "config" / "settings").mkdir(parents=True)
    (source / "manage.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local')\n"
    )
    (source / "config" / "__init__.py").write_text("")
    (source / "config" / "settings" / "__init__.py").write_text("")
    (source / "config" / "settings" / "base.py").write_text(
        "INSTALLED_APPS = ['django.contrib.staticfiles']\nWSGI_APPLICATION = 'config.wsgi.application'\n"
    )
    for name in ("local", "production"):
        (source / "config" / "settings" / f"{name}.py").write_text("from .base import *  # noqa\n")
    (source / "config" / "wsgi.py").write_text(
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.production')\n"
        "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"
    )
    (source / "requirements").mkdir()
    (source / "requirements" / "production.txt").write_text("django\n")
    app = detect_app(source)
    assert app.wsgi == "config.wsgi:application"
    assert app.settings == "config.settings.production"
    assert "what the server runs; manage.py says config.settings.local" in app.found["settings"]
    assert app.requirements == "requirements/production.txt" and app.collectstatic is True


def test_pyproject_gives_requirements_and_python(tmp_path):
    source = startproject(tmp_path / "api", "api")
    (source / "pyproject.toml").write_text(
        '[project]\nname = "api"\nrequires-python = ">=3.12"\ndependencies = ["django>=5.2"]\n'
    )
    app = detect_app(source)
    assert (app.requirements, app.python) == ("pyproject.toml", "3.12")
    assert app.found["python"] == "pyproject.toml requires-python >=3.12"


def test_poetry_dependencies_are_named_but_not_taken(tmp_path):
    source = startproject(tmp_path / "po", "po")
    (source / "pyproject.toml").write_text('[tool.poetry.dependencies]\npython = "^3.12"\ndjango = "^5.2"\n')
    app = detect_app(source)
    assert app.requirements is None
    assert "poetry export -o requirements.txt" in app.found["requirements"]


def test_python_version_file_wins(tmp_path):
    source = startproject(tmp_path / "site", "site1")
    (source / ".python-version").write_text("3.13.1\n")
    assert detect_app(source).python == "3.13"


def test_a_plain_wsgi_app(tmp_path):
    (tmp_path / "app.py").write_text("def app(environ, start_response):\n    return [b'ok']\n")
    (tmp_path / "requirements.txt").write_text("")
    app = detect_app(tmp_path)
    assert (app.kind, app.wsgi, app.settings, app.collectstatic) == ("wsgi", "app:app", None, False)


def test_detection_reads_and_never_runs_the_code(tmp_path):
    source = startproject(tmp_path / "mysite")
    (source / "mysite" / "settings.py").write_text(
        (source / "mysite" / "settings.py").read_text() + "\nraise SystemExit('imported!')\n"
    )
    assert detect_app(source).wsgi == "mysite.wsgi:application"


def test_manage_py_one_level_down_says_where_to_point(tmp_path):
    startproject(tmp_path / "repo" / "mysite")
    with pytest.raises(BadInputError) as caught:
        detect_app(tmp_path / "repo")
    assert "has no manage.py" in str(caught.value)
    assert f"point --app-source at {tmp_path / 'repo' / 'mysite'}" in caught.value.fix


def test_no_directory_is_a_clear_error(tmp_path):
    with pytest.raises(BadInputError, match="is not a directory"):
        detect_app(tmp_path / "missing")


def test_no_wsgi_app_and_no_requirements_say_what_was_looked_for(tmp_path):
    (tmp_path / "README.md").write_text("nothing here")
    app = detect_app(tmp_path)
    assert app.wsgi is None and app.requirements is None
    assert "defines application or app" in app.found["wsgi"]
    assert "requirements.txt" in app.found["requirements"]
