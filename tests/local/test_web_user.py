"""As root, the web instances and `up`'s migrate/collectstatic run as the unprivileged
`threetier-web`: it reads the two secrets the app needs and no other, owns media/ and
static/ (a state dir from before is converted by `up`), and nothing changes when the
twin is not started by root."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from support.twin_helpers import throwaway_twin, traversable_tempdir

from threetier.local import bringup, osusers, webuser
from threetier.local.postgres import DB_OS_USER
from threetier.local.secrets import DB_APP_PASSWORD, DB_MASTER_PASSWORD, DJANGO_SECRET_KEY
from threetier.local.supervisor import render_supervisord_conf
from threetier.local.twin import Twin

pytestmark = pytest.mark.integration

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs programs as other users")


def uids_of(pid: int) -> set[int]:
    """Real, effective, saved and filesystem uids of a process, as /proc says."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(value) for value in line.split()[1:]}
    raise AssertionError(f"no Uid line for {pid}")


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cat_as(user: str, path: Path) -> subprocess.CompletedProcess:
    entry = pwd.getpwnam(user)
    return subprocess.run(
        ["cat", str(path)], capture_output=True, text=True, timeout=10,
        user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
    )


@needs_root
def test_up_on_an_old_state_dir_gives_the_web_user_its_secrets_and_shared_dirs():
    """A state dir written before the web user existed: root-owned media/static, 0700 secrets/."""
    with throwaway_twin("webuser") as env:
        # even where the web user cannot run this Python (see webuser.py)
        twin = Twin(env.spec, env.state_dir, web_user=webuser.WEB_OS_USER)
        layout = twin.layout
        layout.prepare()
        (layout.media / "users" / "old").mkdir(parents=True)
        (layout.media / "users" / "old" / "note.txt").write_text("uploaded while root ran the instances")
        (layout.static / "app.css").write_text("body {}")
        messages: list[str] = []

        bringup.prepare_state_dir(twin.plan, messages.append)

        uid, gid = osusers.owner_ids(webuser.WEB_OS_USER)
        for path in [layout.media, *layout.media.rglob("*"), layout.static, *layout.static.rglob("*")]:
            assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
        secrets = layout.secrets
        assert (secrets.stat().st_gid, stat.S_IMODE(secrets.stat().st_mode)) == (gid, 0o710)
        for name in (DJANGO_SECRET_KEY, DB_APP_PASSWORD):
            info = (secrets / name).stat()
            assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, gid, 0o640), name
            assert cat_as(webuser.WEB_OS_USER, secrets / name).returncode == 0, name
        master = secrets / DB_MASTER_PASSWORD
        assert stat.S_IMODE(master.stat().st_mode) == 0o600
        denied = cat_as(webuser.WEB_OS_USER, master)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        assert denied.stdout == ""
        # A second `up` finds nothing to change.
        assert [osusers.chown_tree(d, webuser.WEB_OS_USER) for d in (layout.media, layout.static)] == [0, 0]
        assert messages == []


@needs_root
def test_supervisord_runs_the_instances_as_the_web_user_and_the_database_as_its_own():
    with throwaway_twin("webconf") as env:
        twin = Twin(env.spec, env.state_dir, web_user=webuser.WEB_OS_USER)
        conf = render_supervisord_conf(twin.services(), twin.layout, identifier="t")
    programs = {block.split("]")[0]: block for block in conf.split("[program:")[1:]}
    users = {name: next((line[5:] for line in block.splitlines() if line.startswith("user=")), None)
             for name, block in programs.items()}
    assert users == {
        "db-1a": DB_OS_USER, "web-1a": "threetier-web", "web-1c": "threetier-web", "lb": None, "asg": None,
        "dns": None,
    }


def test_a_closed_directory_on_the_way_is_found_and_not_root_means_no_web_user(monkeypatch):
    root = traversable_tempdir("tt-closed-")
    try:
        closed = root / "closed"
        (closed / "bin").mkdir(parents=True)
        closed.chmod(0o700)
        assert osusers.closed_parent(closed / "bin", "no-such-user-here") == closed
        assert osusers.closed_parent(root, "no-such-user-here") is None
    finally:
        shutil.rmtree(root)
    monkeypatch.setattr(webuser.os, "geteuid", lambda: 1000)
    assert webuser.planned_web_user() is None
    assert webuser.root_fallback_warning() is None


@pytest.mark.integration
def test_the_web_instances_and_their_workers_run_as_the_web_user(running_twin):
    if os.geteuid() != 0:
        pytest.skip("not root: the instances run as the caller, as before")
    if running_twin.web_user is None:
        pytest.skip(webuser.root_fallback_warning())
    uid = pwd.getpwnam(webuser.WEB_OS_USER).pw_uid
    processes = running_twin.supervisor.processes()
    for name in running_twin.instance_names():
        master = processes[name]["pid"]
        workers = children_of(master)
        assert workers, f"{name} has no gunicorn workers"
        for pid in (master, *workers):
            assert uids_of(pid) == {uid}, (name, pid)
    assert uids_of(processes["lb"]["pid"]) == {0}  # Caddy stays root's: it owns its state dir
    # collectstatic ran as the web user too: everything it wrote is that user's.
    static = running_twin.layout.static
    assert (static / "staticfiles.json").is_file()
    assert {path.stat().st_uid for path in static.rglob("*")} == {uid}
