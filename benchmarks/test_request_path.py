"""The side-by-side benchmark's cheap parts (no twin is started): `pytest benchmarks/`."""

from __future__ import annotations

from request_path import bench_spec, component, markdown_table, parse_args, summarize, top_frames


def row(system: str, route: str, path: str, rps: float, web: float = 2.0) -> dict:
    return {"round": 1, "system": system, "route": route, "path": path, "requests": int(rps * 10),
            "requests_per_second": rps, "failed_requests": 0, "latency_ms": {"p50": 10.0, "p99": 50.0},
            "server_cpu_ms_per_request": {"web": web, "lb": 0.5, "db": 0.3, "other": 0.1, "total": web + 0.9},
            "generator": {"cpu_ms_per_request": 0.05, "saturated": False}}


def test_defaults_alternate_three_rounds_of_ten_seconds():
    args = parse_args([])
    assert (args.rounds, args.duration, args.connections, args.threads) == (3, 10.0, 100, 2)


def test_the_twin_has_two_instances_checked_every_second():
    spec = bench_spec()
    assert len(spec.instance_azs()) == 2 and spec.local.health_check.interval_seconds == 1.0


def test_processes_are_counted_by_component():
    assert component("/x/postgres -D /d") == "db" and component("postgres: app uda 127.0.0.1") == "db"
    assert component("/x/caddy run --config c") == "lb"
    assert component("python\0-m\0gunicorn\0x") == "web" and component("nginx: worker process") == "web"
    assert component("/usr/bin/supervisord -c s") == "other"


def test_the_summary_gives_medians_ratios_and_a_t3_micro_capacity():
    rows = [row("recipe", "lb", "/users/", 100), row("threetier", "lb", "/users/", 300, web=2.5),
            row("threetier", "lb", "/users/", 250, web=2.5), row("threetier", "lb", "/users/", 350, web=2.5),
            row("threetier", "direct", "/healthz", 1000), row("threetier", "lb", "/healthz", 700, web=2.5)]
    summary = {(s["system"], s["route"], s["path"]): s for s in summarize(rows)}
    mine = summary[("threetier", "lb", "/users/")]
    assert mine["requests_per_second"] == 300 and mine["vs_recipe"] == 3.0 and mine["rounds"] == 3
    assert mine["t3_micro_sustained_rps"] == 80  # 200 ms of CPU a second / 2.5 ms
    assert summary[("threetier", "lb", "/healthz")]["lb_vs_direct"] == 0.7
    assert summary[("threetier", "lb", "/healthz")]["lb_vs_direct_web_cpu"] == 0.8  # 2.0 / 2.5 ms
    table = markdown_table(summarize(rows))
    assert "| /users/ | LB (Caddy, HTTPS) | threetier | 300 (300, 250, 350) |" in table


def test_top_frames_from_collapsed_stacks():
    own, inclusive = top_frames("a;b;c 3\na;b 1\na;d 6\n")
    assert own[0] == ("d", 60.0) and ("c", 30.0) in own
    assert inclusive[0] == ("a", 100.0)
