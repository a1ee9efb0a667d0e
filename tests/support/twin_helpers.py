"""Helpers for twin tests (tests/local, tests/drill): a throwaway twin on free loopback
ports in a temp dir, always taken down and purged; and its parts — its ports, a
throwaway project with its own parameters file, temp dirs PostgreSQL's user can enter."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from threetier.local.layout import STATE_DIR_VARIABLE
from threetier.local.ports import allocate_ports
from threetier.local.twin import Twin
from threetier.paths import parameters_dir
from threetier.spec import Spec, load_spec

# Short health checks so a rehearsal takes seconds: a failure is seen within ~0.5 s.
HEALTH = {"interval_seconds": 0.5, "timeout_seconds": 0.4, "healthy_threshold": 1, "unhealthy_threshold": 1}
# Short Route 53 stage settings: a failover decision within 2 × 1 s, resolvers keep the old answer 1 s.
FAILOVER = {"request_interval_seconds": 1.0, "failure_threshold": 2, "ttl_seconds": 1}


@dataclass
class TwinEnv:
    """A throwaway twin and what a CLI call needs to reach it."""

    twin: Twin
    spec: Spec
    project: Path
    state_dir: Path

    def cli_env(self, monkeypatch, *, columns: int = 120) -> None:
        monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(self.project))
        monkeypatch.setenv(STATE_DIR_VARIABLE, str(self.state_dir))
        monkeypatch.setenv("THREETIER_ENV", self.spec.env_name)
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setenv("NO_COLOR", "1")


@contextmanager
def throwaway_twin(
    env: str, *, multi_az: bool = False, lb_semantics: str = "alb", local: dict | None = None
) -> Iterator[TwinEnv]:
    """A twin (not started) of a throwaway project `env` on free loopback ports, with short
    health checks, in a temp dir; on exit it is taken down, purged and the dir removed.

    Not named test_*: pytest would collect it from the test modules that import it.
    """
    ports = twin_ports()
    root = traversable_tempdir(f"tt-{env}-")
    project, state = root / "project", root / "state"
    settings = {
        # A drained instance is back in the LB's rotation 2 s after (the parameters' 30 s).
        **ports, "lb_semantics": lb_semantics, "lb_try_duration_seconds": 5, "deregistration_delay_seconds": 2,
        "health_check": HEALTH,
        "failover_check": FAILOVER, **(local or {}),
    }
    write_project(project, env, settings, multi_az=multi_az)
    spec = load_spec(env, path=project / "parameters" / f"{env}.toml")
    # The twins' write loops (drills, failover tests) sign up far more users a minute from
    # one address than the app's throttle allows a client; the throttle has tests of its own.
    rates = {"THREETIER_SIGNUP_RATE": "100000/minute", "THREETIER_SIGNUP_RATE_ALL": "100000/minute"}
    saved = {name: os.environ.get(name) for name in rates}
    os.environ.update(rates)
    twin = Twin(spec, state)
    try:
        yield TwinEnv(twin, spec, project, state)
    finally:
        try:
            twin.down(purge=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def point_cli_at(twin: Twin, env: str, monkeypatch) -> Twin:
    """The environment a `threetier --env <env> ...` call needs to reach `twin`, once every
    instance is healthy and its failover stage sends clients to the LB."""
    from threetier.local.probes import wait_until  # noqa: PLC0415 - only the drills need it

    project = twin.layout.root.parent / "project"
    monkeypatch.setenv("THREETIER_PROJECT_ROOT", str(project))
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(twin.layout.root))
    monkeypatch.setenv("THREETIER_ENV", env)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    assert wait_until(lambda: all(twin.target_health().values()), timeout=30), twin.target_health()
    assert wait_until(lambda: (twin.failover_state() or {}).get("route") == "lb", timeout=30), twin.failover_state()
    return twin


def twin_ports(instances: int = 2) -> dict[str, int]:
    """The [local] ports of a twin with `instances` web instances, allocated in one call so
    no two overlap and no other test (in any worker) gets them: http, https, the database
    pair (primary, standby), the load balancer's own port and the instances' consecutive ports."""
    http, https, lb, db, apps = allocate_ports(1, 1, 1, 2, instances)
    return {
        "http_port": http[0], "https_port": https[0], "lb_port": lb[0], "db_port": db[0], "first_app_port": apps[0],
    }


def write_project(root: Path, env: str, local: dict, *, multi_az: bool = False) -> None:
    """A throwaway checkout: parameters/<env>.toml = default.toml with its [local] replaced
    (and database.multi_az switched on when asked)."""
    text = (parameters_dir() / "default.toml").read_text()
    if multi_az:
        assert "\nmulti_az = false" in text
        text = text.replace("\nmulti_az = false", "\nmulti_az = true")
    start, end = text.index("\n[local]"), text.index("\n[drill]")
    (root / "parameters").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("")
    (root / "parameters" / f"{env}.toml").write_text(text[:start] + "\n" + _local_toml(local) + text[end:])


def _toml_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _local_toml(local: dict) -> str:
    lines = ["[local]"]
    lines += [f"{key} = {_toml_value(v)}" for key, v in local.items() if not isinstance(v, dict)]
    for key, table in local.items():
        if isinstance(table, dict):
            lines.append(f"\n[local.{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def traversable_tempdir(prefix: str) -> Path:
    """A temp dir PostgreSQL's unprivileged user can enter (pytest's tmp_path is mode 700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path
