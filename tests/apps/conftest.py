"""A user's Django project (tests/apps/django_project.py) in a throwaway checkout whose
parameters name it in [app]; and a twin of it on free loopback ports (two instances, a
primary and a standby database, short health checks), always purged at the end."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django_project import app_section, make_project, with_app
from support.twin_helpers import FAILOVER, HEALTH, traversable_tempdir, twin_ports, write_project

from threetier.local.twin import Twin
from threetier.spec import Spec, load_spec

ENV = "myapp"


@dataclass
class AppProject:
    root: Path  # holds parameters/ and the app's directory
    app: Path  # the Django project (manage.py)
    spec: Spec
    state_dir: Path


@contextmanager
def app_project(
    env: str = ENV, *, ready: bool = True, multi_az: bool = True, local_sessions: bool = False, **app: str
) -> Iterator[AppProject]:
    root = traversable_tempdir(f"tt-{env}-")
    try:
        project = root / "project"
        local = {**twin_ports(), "health_check": {**HEALTH, "unhealthy_threshold": 2}, "failover_check": FAILOVER}
        write_project(project, env, local, multi_az=multi_az)
        django_app = make_project(project, ready=ready, local_sessions=local_sessions)
        parameters = project / "parameters" / f"{env}.toml"
        with_app(parameters, app_section(django_app, **app))
        yield AppProject(project, django_app, load_spec(env, path=parameters), root / "state")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def app_twin() -> Iterator[tuple[AppProject, Twin]]:
    """The ready project's twin, started once for the module's tests."""
    with app_project() as project:
        twin = Twin(project.spec, project.state_dir)
        try:
            twin.up()
            yield project, twin
        finally:
            twin.down(purge=True)
