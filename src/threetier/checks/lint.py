"""cfn-lint on the synthesized templates: errors fail `check`, warnings are shown.

The few warnings that are choices rather than mistakes are ignored here, each with why.
"""

from __future__ import annotations

from pathlib import Path

from threetier.checks.findings import Finding

IGNORED = {
    "W3010": "explicit AZs are the point: spec.network.subnets names them (no lookups at synth)",
    "W3005": "CDK emits a DependsOn that a GetAtt already implies in its own provider resources",
    "W3691": "a major-only EngineVersion ('16') makes RDS pick its current minor version; "
    "cfn-lint's version table lists only full versions",
}


def lint_templates(templates: list[tuple[Path, str]]) -> list[Finding]:
    """Lint each (template, region); ignored rules are left out."""
    from cfnlint.api import ManualArgs, lint_file  # noqa: PLC0415 - cfn-lint takes seconds to import

    findings = []
    for template, region in templates:
        for match in lint_file(template, config=ManualArgs(regions=[region])):
            rule = match.rule.id
            if rule in IGNORED:
                continue
            severity = (
                "error" if rule.startswith("E") else "warning" if rule.startswith("W") else "info"
            )
            location = "/".join(str(p) for p in getattr(match, "path", []) or [])
            findings.append(
                Finding(
                    severity=severity,
                    source="cfn-lint",
                    rule=rule,
                    where=f"{template.name}:{location}",
                    message=match.message,
                )
            )
    return findings
