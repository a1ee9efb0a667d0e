"""What every test folder shares: the environment a run starts from, markers that tell the
truth, xdist groups for heavy fixtures, and the moto, synth and CLI fixtures.

Lanes (scripts/test):
    ./scripts/test --unit                    no real process, no synth, no moto, no browser
    ./scripts/test -m integration            PostgreSQL, gunicorn, Caddy, supervisord
    ./scripts/test                           everything, plus ruff
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import environment, guards
from support.moto_process import moto_server

MOTO_REGION = "ap-northeast-1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--unit", action="store_true",
        help=f"the unit lane: only tests marked none of {', '.join(guards.UNIT_EXCLUDED)}",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Here, not in a fixture: session fixtures, and the processes they start, read it too.
    environment.isolate(os.environ)
    guards.install()
    if config.getoption("unit"):
        asked = config.option.markexpr
        config.option.markexpr = f"({asked}) and {guards.UNIT_EXPRESSION}" if asked else guards.UNIT_EXPRESSION


# --- the unit lane -------------------------------------------------------------------------

JSII_IMPORTERS: set[str] = set()  # unit-lane modules whose import started Node.js


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """--unit: a module marked as a whole with an excluded marker is not even imported."""
    if config.getoption("unit") and collection_path.suffix == ".py":
        if guards.module_markers(collection_path) & set(guards.UNIT_EXCLUDED):
            return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    jsii_before = guards.JSII_MODULE in sys.modules
    report = yield
    if isinstance(collector, pytest.Module) and not jsii_before and guards.JSII_MODULE in sys.modules:
        if collector.config.getoption("unit"):
            JSII_IMPORTERS.add(collector.nodeid)
    return report


# --- markers that tell the truth ---------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def xdist_group(item: pytest.Item) -> str | None:
    """With --dist loadgroup, the tests sharing a heavy fixture run on one worker, so it
    starts once instead of once per worker: the session's twins (tests/local, tests/drill)
    and each module's moto server (moto keeps one account per process: one per module)."""
    names = item.fixturenames
    if "drill_twin" in names:
        return "drill-twin"
    if "twin_env" in names:
        return "twin"
    if "moto_endpoint" in names or "moto_fargate" in names:
        return f"moto-{item.nodeid.split('::')[0]}"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    problems = guards.missing_markers(item)
    if item.nodeid.split("::")[0] in JSII_IMPORTERS:
        problems.append("importing its module starts jsii's Node.js (aws_cdk): mark the module synth")
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group"):
        if "@" not in item.nodeid:  # a grouping that silently does nothing costs minutes
            problems.append("--dist loadgroup did not group it: this pytest and pytest-xdist do not work "
                            "together (pytest-xdist#1386); use the versions pyproject.toml pins")
    if problems:
        pytest.fail(f"{item.nodeid}: " + "; ".join(problems) + " (tests/support/guards.py)", pytrace=False)
    # The setup phase runs every fixture the test needs, session-scoped ones included.
    guards.GUARD.watch(item)
    try:
        return (yield)
    finally:
        guards.GUARD.watch(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    guards.GUARD.watch(item)
    try:
        return (yield)
    finally:
        guards.GUARD.watch(None)


# --- a plain terminal, and the CLI --------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # `assert result.code == 0, result` shows everything
        return f"exit code {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def cli(capsys, monkeypatch) -> Callable[..., CliResult]:
    """Run `threetier ARGS` in-process: cli("--env", "prod", "params") → CliResult."""
    from threetier.cli.main import main

    monkeypatch.delenv("THREETIER_ENV", raising=False)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def no_aws_credentials(monkeypatch) -> None:
    """Not even the fake AWS keys every test gets (tests of the missing-credentials error)."""
    environment.remove_aws_credentials(monkeypatch)


# --- moto ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server of the module's own (moto's fake AWS is process-global state)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def moto_client(moto_endpoint: str) -> Callable:
    """moto_client("ec2", region="us-east-1") → a boto3 client of the module's moto server."""
    import boto3

    def client(service: str, region: str = MOTO_REGION):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=moto_endpoint,
            aws_access_key_id=environment.FAKE_AWS_KEY,
            aws_secret_access_key=environment.FAKE_AWS_KEY,
        )

    return client


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch) -> str:
    """The process environment pointing boto3 (and `threetier ... --target aws`) at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
    return moto_endpoint


# --- CDK synth -----------------------------------------------------------------------------


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """synthesized(name) → Synthesized (support.aws_helpers.make_spec's names), built once
    per test run: the first xdist worker to need an environment synthesizes it into the
    run's shared temp dir, the others read that cloud assembly (synth takes seconds)."""
    from support.aws_helpers import Synthesized, make_spec

    from threetier.aws.app import summarize, synthesize

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache: dict[str, Synthesized] = {}

    def get(name: str) -> Synthesized:
        if name not in cache:
            spec = make_spec(name)
            outdir, done = shared / f"cdk-{name}", shared / f"cdk-{name}.done"
            with file_lock(shared / f"cdk-{name}.lock"):
                if done.exists():
                    result = summarize(outdir)
                else:
                    shutil.rmtree(outdir, ignore_errors=True)
                    result = synthesize(spec, outdir=outdir)
                    done.touch()
            templates = {s.name: json.loads(Path(s.template_file).read_text()) for s in result.stacks}
            cache[name] = Synthesized(spec=spec, result=result, templates=templates)
        return cache[name]

    return get
