"""Reading synthesized CloudFormation values as plain text."""

from __future__ import annotations

from typing import Any


def flatten(value: Any) -> str:
    """Every string inside a template value, joined (to search an Fn::Join or Fn::Sub)."""
    if isinstance(value, dict):
        return "".join(flatten(v) for v in value.values())
    if isinstance(value, list):
        return "".join(flatten(v) for v in value)
    return str(value)
