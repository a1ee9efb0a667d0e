"""The database drills' numbers on a throwaway twin: `drill db` and `drill az`, N rounds.

    flock /tmp/team/heavy.lock .venv/bin/python benchmarks/drill_rto.py [--rounds 2 --json out.json]

A twin like the drill tests' (two instances, a primary and a standby, health checks
every 0.5 s, the Route 53 stage 2 × 1 s with a TTL of 1 s, free loopback ports, a temp
state directory, always purged) runs each drill `--rounds` times through the CLI and
prints, per run: acknowledged and lost writes, failed writes/reads, detection and the
RTO (the first acknowledged write after the kill). The twin helpers are the tests' own
(tests/support), so these are the numbers the drill tests see.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import threetier

# The tests' helpers, from the same checkout as the threetier package that runs.
sys.path.insert(0, str(Path(threetier.__file__).resolve().parents[2] / "tests"))

from support.twin_helpers import HEALTH, throwaway_twin  # noqa: E402

from threetier.cli.main import main as cli_main  # noqa: E402
from threetier.local.probes import wait_until  # noqa: E402

FIELDS = ("acknowledged_writes", "lost_writes", "failed_requests", "requests", "detect_seconds", "rto_seconds")


def run_drill(name: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["drill", name, "--json"])
    result = json.loads(out.getvalue())
    result["exit_code"] = code
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drills", default="db,az")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = []
    with throwaway_twin("drillrto", multi_az=True, local={"health_check": {**HEALTH, "unhealthy_threshold": 2}}) as env:
        twin = env.twin
        twin.up()
        os.environ.update({
            "THREETIER_PROJECT_ROOT": str(env.project), "THREETIER_STATE_DIR": str(env.state_dir),
            "THREETIER_ENV": "drillrto", "COLUMNS": "200", "NO_COLOR": "1",
        })
        for round_number in range(1, args.rounds + 1):
            for name in args.drills.split(","):
                wait_until(twin.database_redundant, timeout=90)
                wait_until(lambda: all(twin.target_health().values()), timeout=60)
                wait_until(lambda: (twin.failover_state() or {}).get("route") == "lb", timeout=60)
                result = run_drill(name)
                row = {"drill": name, "round": round_number, "exit_code": result["exit_code"],
                       **{key: result.get(key) for key in FIELDS}}
                rows.append(row)
                print(json.dumps(row), flush=True)
                time.sleep(1)
    print(f"{'drill':6} {'round':>5} {'exit':>4} {'acked':>6} {'lost':>4} {'failed/requests':>15} "
          f"{'detect s':>8} {'RTO s':>6}")
    for row in rows:
        failed = f"{row['failed_requests']}/{row['requests']}"
        detect = "-" if row["detect_seconds"] is None else f"{row['detect_seconds']:.2f}"
        rto = "-" if row["rto_seconds"] is None else f"{row['rto_seconds']:.2f}"
        print(f"{row['drill']:6} {row['round']:>5} {row['exit_code']:>4} {row['acknowledged_writes']!s:>6} "
              f"{row['lost_writes']!s:>4} {failed:>15} {detect:>8} {rto:>6}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if all(row["exit_code"] == 0 and row["lost_writes"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
