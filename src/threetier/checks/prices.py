"""The dated list-price table behind `threetier check`'s cost lines (`prices.toml`, packaged
beside this module): what changes when AWS changes a price, and nothing else.

>>> load_prices().hourly("ap-northeast-1", "ec2_instance_hour", "t3.micro")
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from threetier.errors import ThreetierError

PRICES_FILE = "prices.toml"


@dataclass(frozen=True)
class Prices:
    """`prices.toml`: `price(region, key)` and `hourly(region, table, name)`; None when unknown."""

    date: str
    hours_per_month: float
    global_prices: Mapping[str, float]
    regions: Mapping[str, Mapping[str, Any]]
    sources: Mapping[str, str] = field(default_factory=dict)

    def price(self, region: str, key: str) -> float | None:
        regional = self.regions.get(region, {})
        value = regional.get(key, self.global_prices.get(key))
        return float(value) if isinstance(value, int | float) else None

    def hourly(self, region: str, table: str, name: str) -> float | None:
        value = self.regions.get(region, {}).get(table, {}).get(name)
        return float(value) if value is not None else None


def load_prices(path: Path | None = None) -> Prices:
    """The packaged price table (or `path`)."""
    text = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("threetier.checks").joinpath(PRICES_FILE).read_text(encoding="utf-8")
    )
    try:
        data = tomllib.loads(text)
        return Prices(
            date=str(data["date"]),
            hours_per_month=float(data["hours_per_month"]),
            global_prices=data.get("global", {}),
            regions=data.get("regions", {}),
            sources=data.get("sources", {}),
        )
    except (tomllib.TOMLDecodeError, KeyError) as exc:
        raise ThreetierError(
            f"the price table {path or PRICES_FILE} is not usable: {exc}",
            fix="restore src/threetier/checks/prices.toml from git",
        ) from None
