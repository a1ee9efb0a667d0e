"""Which project's parameters/ a command uses: the folder it runs in (or above), a user's
own project as much as threetier's checkout; `init` starts a new project where it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from threetier import paths

CHECKOUT = Path(paths.__file__).resolve().parent.parent.parent


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("THREETIER_PROJECT_ROOT", raising=False)


def test_a_users_project_with_parameters_is_found_from_a_sub_folder(tmp_path, monkeypatch):
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "mysite.toml").write_text("")
    (tmp_path / "mysite" / "notes").mkdir(parents=True)  # no pyproject.toml: a startproject layout
    monkeypatch.chdir(tmp_path / "mysite" / "notes")
    assert paths.project_root() == tmp_path.resolve()
    assert paths.new_project_root() == tmp_path.resolve()


def test_a_folder_named_parameters_without_toml_files_is_not_a_project(tmp_path, monkeypatch):
    (tmp_path / "parameters").mkdir()  # e.g. a Django app of that name
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == CHECKOUT  # outside any project: threetier's own
    assert paths.new_project_root() == tmp_path.resolve()  # init starts one here


def test_inside_threetiers_checkout_init_writes_to_the_checkout(monkeypatch):
    monkeypatch.chdir(CHECKOUT / "src")
    assert paths.project_root() == CHECKOUT
    assert paths.new_project_root() == CHECKOUT


def test_the_tools_own_files_come_from_its_checkout_whichever_project(tmp_path, monkeypatch):
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "mysite.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert paths.tool_checkout() == CHECKOUT
    assert (paths.tool_checkout() / "requirements" / "runtime.txt").is_file()


def test_the_override_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(tmp_path))
    assert paths.project_root() == paths.new_project_root() == tmp_path.resolve()
