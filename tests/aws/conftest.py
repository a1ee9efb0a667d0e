"""One synth per environment per test session (synth is slow: jsii starts Node.js), shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.aws_helpers import Synthesized, make_spec

from threetier.aws.app import synthesize


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """synthesized(name) → Synthesized, built once per session."""
    cache: dict[str, Synthesized] = {}

    def get(name: str) -> Synthesized:
        if name not in cache:
            spec = make_spec(name)
            outdir = tmp_path_factory.mktemp(f"cdk-{name}")
            result = synthesize(spec, outdir=outdir)
            templates = {
                s.name: json.loads(Path(s.template_file).read_text()) for s in result.stacks
            }
            cache[name] = Synthesized(spec=spec, result=result, templates=templates)
        return cache[name]

    return get
