"""Run every check on one environment: one synth (with cdk-nag), then the template checks;
and the deploy preflight (`run_preflight`): the same rules plus the account's, before CDK runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threetier.aws.app import SynthResult, synthesize
from threetier.aws.cdk_cli import docker_daemon_problem
from threetier.checks.architecture import check_template
from threetier.checks.findings import Finding, errors
from threetier.checks.leftovers import Leftover, still_billing_after_destroy
from threetier.checks.lint import lint_templates
from threetier.checks.nag import synthesize_with_nag
from threetier.checks.parity import parity_problems
from threetier.checks.preflight import (
    SYNTH_BLOCKERS,
    AccountProbes,
    account_problems,
    billing_problems,
    blocks_synth,
    docker_problems,
    spec_problems,
    template_problems,
)
from threetier.checks.pricer import CostReport, cost_drivers
from threetier.checks.readiness import app_findings
from threetier.checks.traps import spec_traps
from threetier.errors import ThreetierError
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


def run_checks(
    spec: Spec, *, outdir: Path, docker_problem: Callable[[], str | None] | None = None
) -> CheckReport:
    """cdk-nag (AwsSolutions), cfn-lint, the architecture rules, the parameters' traps and the
    deploy preflight's rules that need no account, plus the monthly cost drivers of the
    synthesized templates. `docker_problem` (default: ask the Docker daemon) only warns here:
    `check` builds no image, `deploy` does and stops on it."""
    findings = spec_traps(spec) + spec_problems(spec)
    findings += app_findings(spec)  # the user's app's HA-readiness (none for the bundled registry)
    findings += docker_problems(spec, docker_problem or docker_daemon_problem, severity="warning")
    if blocks_synth(findings):
        raise ThreetierError(
            "the parameters cannot be synthesized: "
            + "; ".join(f.message for f in findings if f.rule in SYNTH_BLOCKERS),
            fix="correct the keys named above, then run `threetier check` again",
        )
    synth, nag_findings = synthesize_with_nag(spec, outdir=outdir)
    findings += nag_findings
    findings += lint_templates([(s.template_file, s.region) for s in synth.stacks])
    templates = {s.name: json.loads(s.template_file.read_text()) for s in synth.stacks}
    for stack in synth.stacks:
        findings += check_template(stack.template_file.name, templates[stack.name])
    findings += template_problems(templates)
    findings += parity_problems(spec, templates)  # the twin rehearses what these templates deploy
    cost = cost_drivers(templates, spec, regions={s.name: s.region for s in synth.stacks})
    findings += billing_problems(spec, cost.total_usd)
    return CheckReport(
        synth=synth,
        findings=sort_findings(findings),
        cost=cost,
        leftovers=still_billing_after_destroy(templates),
    )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes; by source within each."""
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order[f.severity], f.source))


@dataclass(frozen=True)
class PreflightReport:
    """What `deploy` learned before the CDK CLI ran; `synth` is None when it stopped before
    synthesizing (a domain without a zone, no Docker daemon for a Fargate image)."""

    findings: list[Finding]
    synth: SynthResult | None

    @property
    def passed(self) -> bool:
        return not errors(self.findings)


def run_preflight(
    spec: Spec,
    *,
    outdir: Path,
    probes: AccountProbes,
    docker_problem: Callable[[], str | None],
) -> PreflightReport:
    """Every preflight rule (threetier.checks.preflight), the account's included; the
    templates are synthesized into `outdir` for the template rules and the cost estimate,
    and that assembly is what `deploy` hands to the CDK CLI."""
    findings = spec_problems(spec) + docker_problems(spec, docker_problem, severity="error")
    stop = blocks_synth(findings) or any(f.rule == "docker-daemon" for f in findings)
    findings += account_problems(spec, probes=probes)
    if stop:
        return PreflightReport(sort_findings(findings), None)
    synth = synthesize(spec, outdir=outdir)
    templates = {s.name: json.loads(s.template_file.read_text()) for s in synth.stacks}
    findings += template_problems(templates)
    cost = cost_drivers(templates, spec, regions={s.name: s.region for s in synth.stacks})
    findings += billing_problems(spec, cost.total_usd)
    return PreflightReport(sort_findings(findings), synth)
