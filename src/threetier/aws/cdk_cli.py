"""The AWS CDK CLI (Node.js) for ls / diff / deploy / destroy / bootstrap — synth needs none of this.

The CLI is pinned and installed from the npm registry into `.threetier/cdk-cli` on first
use, so every machine drives CloudFormation with the same version we tested.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from threetier.aws.api import caller_account
from threetier.errors import ThreetierError
from threetier.spec import ENV_VARIABLE, Spec

# Pinned: the CLI must read the cloud assembly schema of aws-cdk-lib (pyproject.toml).
CDK_CLI_VERSION = "2.1148.1"
INSTALL_TIMEOUT_SECONDS = 600
DOCKER_TIMEOUT_SECONDS = 20


def cli_dir(root: Path) -> Path:
    return root / ".threetier" / "cdk-cli"


def cdk_executable(root: Path) -> Path:
    return cli_dir(root) / "node_modules" / ".bin" / "cdk"


def installed_version(root: Path) -> str | None:
    package = cli_dir(root) / "node_modules" / "aws-cdk" / "package.json"
    if not package.is_file():
        return None
    return json.loads(package.read_text()).get("version")


def ensure_cdk_cli(root: Path, *, say: Callable[[str], None]) -> Path:
    """The pinned `cdk` executable, installing it with npm first if needed."""
    executable = cdk_executable(root)
    if executable.exists() and installed_version(root) == CDK_CLI_VERSION:
        return executable
    npm = shutil.which("npm")
    if npm is None:
        raise ThreetierError(
            "npm is not installed: the AWS CDK CLI (for ls/diff/deploy/destroy) is a Node.js program",
            fix="install Node.js 18 or newer with npm (Debian: apt-get install nodejs npm); "
            "`threetier synth` and `threetier check` work without it",
        )
    say(f"installing the AWS CDK CLI {CDK_CLI_VERSION} into {cli_dir(root)} (first use only)...")
    cli_dir(root).mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(cli_dir(root)),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"aws-cdk@{CDK_CLI_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ThreetierError(
            f"npm install aws-cdk@{CDK_CLI_VERSION} took more than {INSTALL_TIMEOUT_SECONDS} s",
            fix="check access to the npm registry and try again",
        ) from None
    if result.returncode != 0 or not executable.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ThreetierError(
            f"npm could not install aws-cdk@{CDK_CLI_VERSION}",
            details=tail,
            fix="check access to the npm registry (npm config get registry) and try again",
        )
    return executable


def cdk_command(
    executable: Path,
    args: Sequence[str],
    *,
    outdir: Path,
    assembly: Path | None = None,
    app: bool = True,
) -> list[str]:
    """The full command line: our app (this Python) and output directory, never cdk.json's
    guesses; or, with `assembly`, that already synthesized cloud assembly as it is (what the
    preflight checked is exactly what deploys, and the CLI does not synthesize again); or,
    `app=False`, no app at all (`bootstrap` of explicit environments needs none)."""
    if not app:
        return [str(executable), *args, "--no-notices"]
    if assembly is not None:
        return [str(executable), *args, "--app", str(assembly), "--no-notices"]
    app = f"{shlex.quote(sys.executable)} -m threetier.aws.app"
    return [str(executable), *args, "--app", app, "--output", str(outdir), "--no-notices"]


def run_cdk(
    executable: Path,
    args: Sequence[str],
    *,
    spec: Spec,
    root: Path,
    outdir: Path,
    assembly: Path | None = None,
    app: bool = True,
) -> int:
    """Run the CDK CLI for `spec`'s environment in the foreground; returns its exit code.
    Without `app` it runs outside the checkout, so cdk.json does not make it synthesize."""
    env = {
        **os.environ,
        ENV_VARIABLE: spec.env_name,
        "THREETIER_PROJECT_ROOT": str(root),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    command = cdk_command(executable, args, outdir=outdir, assembly=assembly, app=app)
    if app:
        return subprocess.run(command, cwd=root, env=env, check=False).returncode
    with tempfile.TemporaryDirectory(prefix="threetier-cdk-") as elsewhere:
        return subprocess.run(command, cwd=elsewhere, env=env, check=False).returncode


def docker_daemon_problem() -> str | None:
    """None when the Docker daemon answers (the CDK CLI builds the Fargate image with it),
    else why not. `CDK_DOCKER` names another docker-compatible CLI, as for the CDK CLI."""
    docker = os.environ.get("CDK_DOCKER", "docker")
    path = shutil.which(docker)
    if path is None:
        return f"`{docker}` is not installed (not on the PATH)"
    try:
        result = subprocess.run(
            [path, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=DOCKER_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`{docker} version` got no answer from the daemon within {DOCKER_TIMEOUT_SECONDS} s"
    if result.returncode != 0 or not result.stdout.strip():
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"the Docker daemon is not reachable ({lines[-1] if lines else 'no answer'})"
    return None


def require_credentials(spec: Spec) -> str:
    """The account the current AWS credentials belong to; a clear error instead of a traceback."""
    account = caller_account(spec.project.region)
    if spec.project.account and spec.project.account != account:
        raise ThreetierError(
            f"these credentials are for account {account}, but project.account is {spec.project.account}",
            fix="use credentials for that account, or change project.account in the parameters file",
        )
    return account
