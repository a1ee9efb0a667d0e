"""The CDK app: parameters in, stacks out. No credentials, no network, no context lookups.

In-process (what `threetier synth` and the tests do):

>>> result = synthesize(load_spec("default"), outdir=Path("cdk.out"))
>>> [(s.name, s.resource_count) for s in result.stacks]

For the CDK CLI (cdk.json): `python -m threetier.aws.app`, THREETIER_ENV selects the
parameters file and CDK_OUTDIR (set by the CLI) the output directory.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import threetier.aws  # noqa: F401  (quiets jsii before aws_cdk starts it)
import aws_cdk as cdk

from threetier.aws.naming import (
    EDGE_REGION,
    billing_stack_name,
    edge_stack_name,
    has_edge,
    system_stack_name,
)
from threetier.aws.stacks.billing import BillingStack
from threetier.aws.stacks.edge import EdgeStack
from threetier.aws.stacks.system import SystemStack
from threetier.spec import Spec, load_spec


@dataclass
class Stacks:
    """The stacks of one environment; `edge` is None without a domain (or without failover),
    and then `billing` (us-east-1, the billing alarm) is there instead."""

    app: cdk.App
    system: SystemStack
    edge: EdgeStack | None = None
    billing: BillingStack | None = None

    @property
    def all(self) -> list[cdk.Stack]:
        return [s for s in (self.edge, self.billing, self.system) if s is not None]


@dataclass(frozen=True)
class StackSummary:
    name: str
    region: str
    template_file: Path
    resource_count: int
    resource_types: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SynthResult:
    outdir: Path
    stacks: list[StackSummary]


def environment(spec: Spec, region: str) -> cdk.Environment:
    """An explicit region always (every stack names its own); the account only when given.

    Without spec.project.account the stacks are account-agnostic: the CDK CLI fills in
    the account of the credentials it deploys with. No placeholder account is invented.
    """
    return cdk.Environment(account=spec.project.account, region=region)


def build_stacks(app: cdk.App, spec: Spec) -> Stacks:
    """Add the environment's stacks to `app`."""
    edge = billing = None
    if has_edge(spec):
        edge = EdgeStack(
            app,
            edge_stack_name(spec),
            spec=spec,
            env=environment(spec, EDGE_REGION),
            description=f"threetier {spec.env_name}: hosted zone and sorry page (CloudFront, us-east-1)",
        )
    system = SystemStack(
        app,
        system_stack_name(spec),
        spec=spec,
        env=environment(spec, spec.project.region),
        description=f"threetier {spec.env_name}: VPC, ALB, web servers, PostgreSQL",
    )
    if edge is not None:
        system.add_stack_dependency(edge)
    else:
        billing = BillingStack(
            app,
            billing_stack_name(spec),
            spec=spec,
            env=environment(spec, EDGE_REGION),
            description=f"threetier {spec.env_name}: billing alarm (AWS/Billing is in us-east-1)",
        )
    stacks = Stacks(app=app, system=system, edge=edge, billing=billing)
    for stack in stacks.all:
        cdk.Tags.of(stack).add("threetier:env", spec.env_name)
        cdk.Tags.of(stack).add("threetier:project", spec.project.name)
    return stacks


def build_app(
    spec: Spec, *, outdir: Path | None = None, aspects: list[cdk.IAspect] | None = None
) -> Stacks:
    """A fresh `cdk.App` holding the environment's stacks (with optional aspects, e.g. cdk-nag)."""
    app = cdk.App(outdir=str(outdir) if outdir else None)
    stacks = build_stacks(app, spec)
    for aspect in aspects or []:
        cdk.Aspects.of(app).add(aspect)
    return stacks


def synthesize(
    spec: Spec, *, outdir: Path, aspects: list[cdk.IAspect] | None = None
) -> SynthResult:
    """Synthesize the environment into `outdir` (a cloud assembly) and summarize it."""
    stacks = build_app(spec, outdir=outdir, aspects=aspects)
    stacks.app.synth()
    return summarize(outdir)


def summarize(outdir: Path) -> SynthResult:
    """Read a cloud assembly's manifest: each stack's name, region and resources.

    Works on an assembly whose validation failed too (templates are written before the
    validation plugins run), so `check` can lint what cdk-nag rejected.
    """
    manifest = json.loads((outdir / "manifest.json").read_text())
    summaries = []
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        path = outdir / artifact["properties"]["templateFile"]
        resources = json.loads(path.read_text()).get("Resources", {})
        types = Counter(r["Type"] for r in resources.values())
        summaries.append(
            StackSummary(
                name=artifact["properties"].get(
                    "stackName", path.name.removesuffix(".template.json")
                ),
                region=artifact["environment"].rsplit("/", 1)[-1],
                template_file=path,
                resource_count=len(resources),
                resource_types=dict(sorted(types.items())),
            )
        )
    return SynthResult(outdir=outdir, stacks=summaries)


def main() -> None:
    """Entry point for the CDK CLI (cdk.json `app`): THREETIER_ENV picks the parameters."""
    spec = load_spec(os.environ.get("THREETIER_ENV"))
    build_app(spec).app.synth()


if __name__ == "__main__":
    main()
