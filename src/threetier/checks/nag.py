"""cdk-nag's AwsSolutions pack on the whole app, read back from CDK's validation report."""

from __future__ import annotations

import json
from pathlib import Path

from threetier.aws.app import SynthResult, build_app, summarize
from threetier.checks.findings import Finding
from threetier.spec import Spec

REPORT_FILE = "validation-report.json"


def synthesize_with_nag(spec: Spec, *, outdir: Path) -> tuple[SynthResult, list[Finding]]:
    """Synthesize with the AwsSolutions pack; unacknowledged findings come back as findings.

    A failed validation still leaves the templates in `outdir`, so the other checks run too.
    """
    from aws_cdk import Validations  # noqa: PLC0415 - aws_cdk starts jsii's Node.js
    from cdk_nag import AwsSolutionsChecks  # noqa: PLC0415

    stacks = build_app(spec, outdir=outdir)
    Validations.of(stacks.app).add_plugins(AwsSolutionsChecks(stacks.app, verbose=False))
    try:
        stacks.app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
    return summarize(outdir), read_report(outdir / REPORT_FILE)


def read_report(path: Path) -> list[Finding]:
    """Every violation in CDK's validation report (cdk-nag, and CDK's own template validation)."""
    if not path.is_file():
        return []
    findings = []
    for plugin in json.loads(path.read_text()).get("pluginReports", []):
        source = "cdk-nag" if plugin["pluginName"] == "AwsSolutions" else plugin["pluginName"]
        for violation in plugin.get("violations", []):
            severity = "error" if violation.get("severity") == "error" else "warning"
            for construct in violation.get("violatingConstructs", []):
                findings.append(
                    Finding(
                        severity=severity,
                        source=source,
                        rule=violation["ruleName"],
                        where=construct["constructPath"],
                        message=violation.get("description", ""),
                    )
                )
    return findings
