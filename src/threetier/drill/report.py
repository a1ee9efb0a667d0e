"""A drill's numbers, the expectations they are held to, and its scorecard (the twin's
numbers beside what AWS would show, see scorecard.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from threetier.drill.scorecard import ScoreRow


@dataclass(frozen=True)
class Expectation:
    name: str
    limit: float
    actual: float | None

    @property
    def met(self) -> bool:
        return self.actual is not None and self.actual <= self.limit


@dataclass
class DrillResult:
    """What `--json` prints; fields that do not apply to a drill stay None."""

    drill: str
    target: str
    requests: int = 0
    failed_requests: int = 0
    detect_seconds: float | None = None
    recover_seconds: float | None = None
    lost_writes: int | None = None
    acknowledged_writes: int | None = None
    rto_seconds: float | None = None
    requests_per_second: float | None = None
    lb_semantics: str | None = None  # the twin's local.lb_semantics; "alb" on AWS
    notes: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    scorecard: list[ScoreRow] = field(default_factory=list)

    def expect(self, name: str, actual: float | None, limit: float) -> None:
        self.expectations.append(Expectation(name, limit, actual))

    @property
    def passed(self) -> bool:
        return all(e.met for e in self.expectations)

    def to_json(self) -> dict:
        data = asdict(self)
        data["expectations"] = [
            {"name": e.name, "limit": e.limit, "actual": e.actual, "met": e.met} for e in self.expectations
        ]
        data["scorecard"] = [r.to_json() for r in self.scorecard]
        data["passed"] = self.passed
        return data
