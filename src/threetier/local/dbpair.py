"""The twin's side of the database pair: bring the standby up during `up`, and read
roles, lag and redundancy for `status`, the drills and the tests.

replication.py holds the mechanics (roles file, base backup, sync names); the
watchdog keeps the pair redundant while the twin runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from threetier.errors import ThreetierError
from threetier.local import replication
from threetier.local.postgres import PgNode, sql_ready
from threetier.local.probes import wait_until
from threetier.local.replication import Pair
from threetier.local.supervisor import RUNNING_STATES, Supervisor

Progress = Callable[[str], None]
STREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class NodeView:
    """One database as `status` shows it."""

    role: str  # 'primary' | 'standby' | 'down'
    lag: dict | None = None  # standby only: {"bytes", "seconds", "state", "sync_state"}


def bring_up_standby(
    pair: Pair, supervisor: Supervisor, *, running: bool, started: list[str], progress: Progress,
    log_tail: Callable[[str], list[str]],
) -> None:
    """With the primary up: the replication login, a standby cloned if it needs to be
    (first `up`, or an ex-primary left over from a failover), started, streaming, and
    listed as synchronous. Idempotent: a streaming synchronous standby is left alone."""
    primary, standby = pair.primary(), pair.standby()
    observation = replication.observe(pair, primary, standby)
    if observation is not None and observation.sync_names and not observation.streaming:
        # Left synchronous by the last run (`down` stops the standby too): every commit,
        # ours included, would wait for a standby that is not there yet.
        progress(f"asynchronous commit on {primary.name} until {standby.name} streams")
        replication.set_sync_names(pair, primary, "")
    replication.ensure_replication_role(pair)
    if not running:
        if replication.needs_base_backup(pair, standby):
            progress(f"cloning the standby {standby.name} from {primary.name} (pg_basebackup)")
            replication.build_standby(pair, standby, lambda _: None)
        progress(f"starting the standby {standby.name} on 127.0.0.1:{standby.port}")
        supervisor.start(standby.name)
        started.append(standby.name)
    progress(f"waiting for the standby {standby.name} to stream from {primary.name}")

    def streaming() -> bool:
        observation = replication.observe(pair, primary, standby)
        return observation is not None and observation.streaming

    if not wait_until(streaming, timeout=STREAM_TIMEOUT, interval=0.2):
        raise ThreetierError(
            f"the standby {standby.name} did not start streaming from {primary.name} within "
            f"{STREAM_TIMEOUT:.0f} s; the last lines of its log:",
            details=log_tail(standby.name),
            fix=f"see the logs of {standby.name} and {primary.name}; `threetier down --purge` starts over",
        )
    wanted = replication.sync_names(standby.name)
    observation = replication.observe(pair, primary, standby)
    if observation is not None and observation.sync_names != wanted:
        progress(f"making {standby.name} the synchronous standby of {primary.name}")
        replication.set_sync_names(pair, primary, wanted)


def node_views(pair: Pair | None, nodes: list[PgNode], states: dict[str, str], master: dict[str, str]) -> dict:
    """name → NodeView, from supervisord's states and the nodes themselves."""
    def alive(name: str) -> bool:
        return states.get(name) in RUNNING_STATES

    if pair is None:
        return {
            n.name: NodeView("primary" if alive(n.name) and sql_ready(n.port, **master) else "down") for n in nodes
        }
    words = {None: "down", True: "standby", False: "primary"}
    roles = {n.name: words[replication.is_in_recovery(pair, n) if alive(n.name) else None] for n in pair.nodes}
    views = {name: NodeView(role) for name, role in roles.items()}
    for node in pair.nodes:
        peer = pair.peer(node)
        if roles[node.name] == "primary" and roles[peer.name] == "standby":
            observation = replication.observe(pair, node, peer)
            if observation is not None:
                views[peer.name] = NodeView("standby", {
                    "bytes": observation.lag_bytes, "seconds": observation.lag_seconds,
                    "state": observation.standby_state or "not connected",
                    "sync_state": observation.sync_state or "-",
                })
    return views


def is_redundant(pair: Pair | None, states: dict[str, str]) -> bool:
    """One primary (the recorded one), one standby streaming from it, synchronous commit on."""
    if pair is None or any(states.get(n.name) != "RUNNING" for n in pair.nodes):
        return False
    primary, standby = pair.primary(), pair.standby()
    if replication.is_in_recovery(pair, primary) is not False or replication.is_in_recovery(pair, standby) is not True:
        return False
    observation = replication.observe(pair, primary, standby)
    return observation is not None and observation.in_sync and observation.sync_names == replication.sync_names(
        standby.name
    )
