"""The cost table's notes in a region prices.toml does not list (init writes any region)."""

from __future__ import annotations

from threetier.checks.pricer import usd


def test_a_region_without_prices_says_so_in_the_notes_instead_of_none():
    assert usd(0.062) == "0.062 USD"
    assert "None" not in usd(None)
    assert "no price for this region" in usd(None)
