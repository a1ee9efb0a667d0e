"""The regions `threetier init` knows and their AZ names (regions.toml, beside this file).

>>> zones_of("eu-west-1")
['eu-west-1a', 'eu-west-1b', 'eu-west-1c']
>>> choose_azs("eu-west-1", ["a", "c"])
['eu-west-1a', 'eu-west-1c']
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from threetier.init.inputs import BadInputError

REGIONS_FILE = Path(__file__).with_name("regions.toml")
# Two AZs: what the load balancer and the DB subnet group need, and what the seeds build.
DEFAULT_AZ_COUNT = 2


@cache
def region_table() -> dict[str, tuple[str, ...]]:
    data = tomllib.loads(REGIONS_FILE.read_text(encoding="utf-8"))
    return {region: tuple(zones) for region, zones in data["regions"].items()}


def zones_of(region: str) -> list[str]:
    """The AZ names of `region`; BadInputError naming the closest known region when unknown."""
    table = region_table()
    name = region.strip().lower()
    if name not in table:
        close = difflib.get_close_matches(name, table, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise BadInputError(
            f"--region: {region!r} is not a region init knows ({REGIONS_FILE.name} lists its AZ names)",
            fix=f"{hint}use one of: {', '.join(sorted(table))}; or write the file by hand from "
            "parameters/default.toml",
        )
    return list(table[name])


def suffix(az: str, region: str) -> str:
    """The AZ's short name used in subnet names, as the shipped files do: ap-northeast-1a → 1a."""
    return region.rsplit("-", 1)[1] + az.removeprefix(region)


def choose_azs(region: str, requested: Sequence[str] | None = None) -> list[str]:
    """The AZs to build in: `requested` (full names or their letters: "a", "c"), else the
    region's first two. At least two, each once, each one of the region's."""
    zones = zones_of(region)
    if not requested:
        return zones[:DEFAULT_AZ_COUNT]
    chosen: list[str] = []
    for item in requested:
        az = item.strip().lower()
        if len(az) == 1:
            az = region + az
        if az not in zones:
            raise BadInputError(
                f"--azs: {item!r} is not an AZ of {region}",
                fix=f"choose from {', '.join(zones)} (full names or their letters, e.g. --azs a,c)",
            )
        if az in chosen:
            raise BadInputError(f"--azs: {az} is named twice", fix="name each AZ once")
        chosen.append(az)
    if len(chosen) < DEFAULT_AZ_COUNT:
        raise BadInputError(
            f"--azs: {', '.join(chosen)} is one AZ; the load balancer and the database's subnet "
            "group need at least two",
            fix=f"name two or more of {', '.join(zones)}",
        )
    return sorted(chosen)
