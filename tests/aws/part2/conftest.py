"""One synthesized test app per module for the part-2 constructs (helpers: part2_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from part2_helpers import Built, build_app


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Callable[..., Built]:
    """build(populate) → Built; call it once per module from a module-scoped fixture."""

    def run(populate):
        return build_app(tmp_path_factory.mktemp("part2-cdk"), populate)

    return run
