"""The application bundle the web servers download at boot (seed 001, requirement 5).

The app is this repository's Python package: the asset is the checkout minus what a
server never needs (virtualenvs, build output, tests, local state).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from threetier.paths import project_root

EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "cdk.out",
    "node_modules",
    "tests",
    ".threetier",
    ".ci",
    ".pytest_cache",
    ".ruff_cache",
    "**/__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    "staticfiles",
    "docs",
    "package.json",
    "package-lock.json",
    "cdk.json",
]


def app_bundle(scope: Construct, construct_id: str, *, root: Path | None = None) -> s3_assets.Asset:
    """A zip of the project (`pip install`-able: pyproject.toml, README.md, src/) as an S3 asset."""
    root = root or project_root()
    return s3_assets.Asset(scope, construct_id, path=str(root), exclude=EXCLUDES)
