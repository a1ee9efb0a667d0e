"""The twin's PostgreSQL runs in the zone Django asks for (UTC, not Etc/UTC), so Django
sends no SET TIME ZONE on a new connection."""

from __future__ import annotations

from threetier.local.postgres import PgNode, node_config


def test_every_node_is_configured_in_utc(tmp_path):
    for role in ("primary", "standby"):
        conf = node_config(PgNode("db-1a", role, 54320, tmp_path / "db-1a"))
        assert "timezone = 'UTC'" in conf
