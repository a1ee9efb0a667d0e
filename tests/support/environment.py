"""The process environment every test run starts from, whoever runs it and wherever.

- A plain terminal: no colour, a fixed width, TERM=dumb, so output assertions see the
  same text on a laptop, in CI and under `script`.
- No AWS account. The runner's credentials, profiles and ~/.aws files are hidden; fake
  keys are set (so clients aimed at moto need none of their own), instance metadata is
  off, and AWS_ENDPOINT_URL points at a loopback port nothing listens on, so a boto3 call
  a test did not aim at moto (or stub) fails at once instead of reaching AWS.
- None of the runner's THREETIER_* settings (an exported THREETIER_ENV or state dir
  would point tests at the runner's own twin), except the ones that steer the test run.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from threetier.local.ports import allocate_ports

COLUMNS = 120
FAKE_AWS_KEY = "testing"
# Read by scripts/test and tests themselves, not by the code under test.
KEPT_THREETIER = ("THREETIER_TEST_WORKERS", "THREETIER_SKIP_BROWSER", "THREETIER_SKIP_WRK")
COLOUR_FORCERS = ("FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def unreachable_endpoint() -> str:
    """A loopback URL that refuses connections: the port is reserved for this run and never bound."""
    return f"http://127.0.0.1:{allocate_ports(1)[0][0]}"


def isolate(environ: MutableMapping[str, str]) -> None:
    """Make `environ` (os.environ, before anything reads it) the tests' environment."""
    for name in list(environ):
        if name.startswith("AWS_") or name in COLOUR_FORCERS:
            del environ[name]
        elif name.startswith("THREETIER_") and name not in KEPT_THREETIER:
            del environ[name]
    environ.update({
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": str(COLUMNS),
        "AWS_ACCESS_KEY_ID": FAKE_AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_AWS_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": unreachable_endpoint(),
    })


def remove_aws_credentials(monkeypatch) -> None:
    """No credentials anywhere boto3 looks, not even the fake ones (tests of that error)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
