"""A drill's numbers and the expectations they are held to."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rich.table import Table


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
    notes: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

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
        data["passed"] = self.passed
        return data


def _fmt(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def result_table(result: DrillResult) -> Table:
    table = Table(title=f"drill {result.drill} on {result.target}: {'PASSED' if result.passed else 'FAILED'}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("expected", justify="right")
    table.add_column("", justify="center")
    measured = {
        "requests": (_fmt(result.requests), None),
        "failed requests": (_fmt(result.failed_requests), None),
        "detect seconds": (_fmt(result.detect_seconds, " s"), None),
        "recover seconds": (_fmt(result.recover_seconds, " s"), None),
        "RTO seconds": (_fmt(result.rto_seconds, " s"), None),
        "acknowledged writes": (_fmt(result.acknowledged_writes), None),
        "lost writes": (_fmt(result.lost_writes), None),
    }
    shown = set()
    for expectation in result.expectations:
        value = measured.get(expectation.name, (_fmt(expectation.actual), None))[0]
        mark = "[green]✓[/green]" if expectation.met else "[red]✗[/red]"
        table.add_row(expectation.name, value, f"≤ {_fmt(expectation.limit)}", mark)
        shown.add(expectation.name)
    for name, (value, _) in measured.items():
        if name not in shown and value != "—":
            table.add_row(name, value, "", "")
    for note in result.notes:
        table.add_row(f"[dim]{note}[/dim]", "", "", "")
    return table
