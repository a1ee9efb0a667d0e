"""One finding type for every check, so the CLI prints and counts them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """A problem (error), a risk worth reading (warning) or a fact worth knowing (info).

    `source` is the checker (cdk-nag, cfn-lint, architecture, parameters), `where` a
    construct path, template location or parameters key.
    """

    severity: Severity
    source: str
    rule: str
    where: str
    message: str


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
