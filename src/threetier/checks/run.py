"""Run every check on one environment: one synth (with cdk-nag), then the template checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from threetier.aws.app import SynthResult
from threetier.checks.architecture import check_template
from threetier.checks.findings import Finding, errors
from threetier.checks.leftovers import Leftover, still_billing_after_destroy
from threetier.checks.lint import lint_templates
from threetier.checks.nag import synthesize_with_nag
from threetier.checks.pricer import CostReport, cost_drivers
from threetier.checks.traps import spec_traps
from threetier.spec import Spec


@dataclass(frozen=True)
class CheckReport:
    synth: SynthResult
    findings: list[Finding]
    cost: CostReport
    # What `destroy` leaves behind that keeps billing (retained data, service-made log groups).
    leftovers: list[Leftover]

    @property
    def passed(self) -> bool:
        return not errors(self.findings)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def run_checks(spec: Spec, *, outdir: Path) -> CheckReport:
    """cdk-nag (AwsSolutions), cfn-lint, the architecture rules and the parameters' traps,
    plus the monthly cost drivers of the synthesized templates."""
    findings = spec_traps(spec)
    synth, nag_findings = synthesize_with_nag(spec, outdir=outdir)
    findings += nag_findings
    findings += lint_templates([(s.template_file, s.region) for s in synth.stacks])
    templates = {s.name: json.loads(s.template_file.read_text()) for s in synth.stacks}
    for stack in synth.stacks:
        findings += check_template(stack.template_file.name, templates[stack.name])
    order = {"error": 0, "warning": 1, "info": 2}
    return CheckReport(
        synth=synth,
        findings=sorted(findings, key=lambda f: (order[f.severity], f.source)),
        cost=cost_drivers(templates, spec, regions={s.name: s.region for s in synth.stacks}),
        leftovers=still_billing_after_destroy(templates),
    )
