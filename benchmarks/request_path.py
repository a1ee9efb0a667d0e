"""The request path side by side: the seeds' recipe against threetier's runtime, in one run.

    flock /tmp/team/heavy.lock .venv/bin/python benchmarks/request_path.py [--rounds 3 --duration 10 --json out.json]

One twin (default.toml: two web instances, one database, free loopback ports, a temp
state directory, always purged) holds the database and its data (10 users) and the load
balancer (Caddy, HTTPS). Its web instances take turns, alternating, `--rounds` times:

- **recipe**: what the seeds build by hand on each web server — nginx → gunicorn
  `--workers 3` (sync) on a unix socket, Django's default `CONN_MAX_AGE = 0` (a new
  PostgreSQL connection per request); the same app, settings module, environment,
  database and data, on the same ports behind the same load balancer;
- **threetier**: the twin's own instances, from the one runtime definition
  (threetier.runtime.contract).

Each is loaded with wrk (`-t2 -c100`, `--duration` seconds after a short warm-up),
straight at one instance (HTTP, nginx's port) and through the load balancer (HTTPS), on
`/users/` (10 users, one query) and `/healthz` (no database). Per measurement: req/s,
p50/p99, errors, the server's CPU per request (utime + stime of every process of the
twin — web instances, Caddy, PostgreSQL with its backends, supervisord and the twin's
helpers — read from /proc, reaped children included) and wrk's own CPU per request.
The summary gives the median over the rounds and the ratios (threetier / recipe; LB /
direct), and a t3.micro's sustained capacity from the web tier's CPU per request.

Needs wrk (`./scripts/ensure-wrk`) and nginx. Run it on a quiet machine (the team's
heavy lock): two cores are shared by the system under test and the load generator.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests
from twin_throughput import machine_info, running_twin, seed_users

from threetier.bench.wrk import require_wrk, run_wrk
from threetier.local.ports import allocate_ports
from threetier.local.postgres import chown_to, demote_kwargs
from threetier.local.twin import Twin
from threetier.local.webapp import nginx_executable
from threetier.paths import parameters_dir
from threetier.runtime import contract
from threetier.spec import Spec, parse_spec

SYSTEMS = ("recipe", "threetier")
ROUTES = ("direct", "lb")
PATHS = ("/users/", "/healthz")
USERS = 10
MARKER = "THREETIER_TWIN"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# t3.micro: 2 vCPUs, a baseline of 10 % per vCPU (EC2 burstable instances: the earned
# credits sustain 0.2 vCPU-seconds per second once the launch credits are spent).
T3_MICRO_SUSTAINED_CPU_SECONDS_PER_SECOND = 2 * 0.10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternations of recipe and threetier (≥ 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first")
    parser.add_argument("--connections", "-c", type=int, default=100)
    parser.add_argument("--threads", "-t", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--json", type=Path, default=None, help="also write every measurement here")
    parser.add_argument("--profile", type=Path, default=None,
                        help="after the rounds, record one threetier worker with py-spy under /users/ load "
                             "through the LB; collapsed stacks to this file, the top frames printed")
    args = parser.parse_args(argv)
    if args.rounds < 0 or args.duration < 1:
        parser.error("--rounds must be at least 0 and --duration at least 1")
    return args


# --- the twin ---------------------------------------------------------------------------------


def bench_spec(env: str = "reqpath") -> Spec:
    """default.toml, two instances on free loopback ports, the LB checking every second
    (an instance swapped for the recipe's is back in rotation within a second or two)."""
    data = tomllib.loads((parameters_dir() / "default.toml").read_text())
    data["web"]["instances"] = 2
    http, https, lb, db, apps = allocate_ports(1, 1, 1, 2, 2)
    data["local"] = {
        **data.get("local", {}),
        "http_port": http[0], "https_port": https[0], "lb_port": lb[0], "db_port": db[0],
        "first_app_port": apps[0],
        "health_check": {"interval_seconds": 1.0, "timeout_seconds": 0.8, "healthy_threshold": 1,
                         "unhealthy_threshold": 1},
    }
    return parse_spec(data, env_name=env)


@dataclass
class RecipeInstance:
    """The seeds' web server on one instance's port: nginx → gunicorn 3 sync workers on a
    unix socket, CONN_MAX_AGE = 0, the instance's own environment and OS user."""

    twin: Twin
    name: str
    port: int
    root: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> None:
        user = self.twin.web_user
        directory = self.root / self.name
        (directory / "temp").mkdir(parents=True, exist_ok=True)
        sock = directory / "gunicorn.sock"
        # The seeds' nginx: a new connection to gunicorn per request (no upstream keep-alive).
        site = contract.nginx_site(listen=f"127.0.0.1:{self.port}", socket=sock,
                                   static_root=self.twin.app_settings().static_root,
                                   settings=replace(contract.NGINX, upstream_keepalive=0))
        main = contract.nginx_main(site=directory / "site.conf", pid=directory / "nginx.pid", error_log="stderr",
                                   access_log=str(directory / "access.log"), temp_dir=directory / "temp", user=None)
        (directory / "site.conf").write_text(site)
        (directory / "nginx.conf").write_text(main)
        for path in (self.root, directory, directory / "temp"):
            chown_to(path, user)
        service = self.twin.service(self.name)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **service.env,
               # Django's default: a new connection per request (the seeds never set it).
               "THREETIER_DB_CONN_MAX_AGE": "0",
               MARKER: str(self.twin.layout.root)}
        log = (directory / "recipe.log").open("ab")
        gunicorn = [sys.executable, "-m", "gunicorn", contract.WSGI_APP, "--config", contract.GUNICORN_CONFIG,
                    "--workers", "3", "--bind", contract.unix_bind(sock), "--umask", "007",
                    "--forwarded-allow-ips", "*", "--name", f"recipe-{self.name}"]
        self.processes.append(subprocess.Popen(gunicorn, env=env, cwd=directory, stdout=log, stderr=log,
                                               start_new_session=True, **demote_kwargs(user)))
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        nginx = [nginx_executable(), "-e", "stderr", "-p", str(directory), "-c", str(directory / "nginx.conf"),
                 "-g", "daemon off;"]
        self.processes.append(subprocess.Popen(nginx, env=env, cwd=directory, stdout=log, stderr=log,
                                               start_new_session=True, **demote_kwargs(user)))

    def stop(self) -> None:
        for process, stop in zip(reversed(self.processes), (signal.SIGQUIT, signal.SIGTERM), strict=False):
            if process.poll() is None:
                os.killpg(process.pid, stop)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()


def wait_ready(twin: Twin, timeout: float = 60) -> None:
    """Every instance answers /readyz and the load balancer has every target healthy."""
    deadline = time.monotonic() + timeout
    ports = twin.instance_ports()
    while time.monotonic() < deadline:
        try:
            ready = all(requests.get(f"http://127.0.0.1:{p}/readyz", timeout=2).status_code == 200
                        for p in ports.values())
        except requests.RequestException:
            ready = False
        if ready and all(twin.target_health().values()):
            return
        time.sleep(0.3)
    raise RuntimeError(f"instances not ready within {timeout:.0f} s: {twin.target_health()}")


def use_system(twin: Twin, system: str, recipes: dict[str, RecipeInstance]) -> None:
    """Put `system`'s web servers on the instances' ports."""
    names = twin.instance_names()
    if system == "recipe":
        for name in names:
            twin.stop_instance(name)
        for name in names:
            recipes[name].start()
    else:
        for recipe in recipes.values():
            recipe.stop()
        for name in names:
            twin.start_instance(name)
    wait_ready(twin)
    time.sleep(1.5)  # a health check or two, so the LB's view is settled


# --- CPU of the server's processes ------------------------------------------------------------


def component(cmdline: str) -> str:
    if "postgres" in cmdline:
        return "db"
    if "caddy" in cmdline:
        return "lb"
    if "nginx" in cmdline or "gunicorn" in cmdline or "webinstance" in cmdline:
        return "web"
    return "other"


def twin_processes(state_dir: Path) -> list[tuple[int, list[str], str]]:
    """(pid, /proc/pid/stat's fields after the name, cmdline with NULs) of every process
    marked as the twin's (THREETIER_TWIN=<state dir>; the recipe's carry it too) and of
    every descendant of one: PostgreSQL's backends write their process titles over their
    environment, so only their parent, the postmaster, still shows the marker."""
    marker = f"{MARKER}={state_dir}".encode()
    table: dict[int, tuple[list[str], str, bool]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as handle:
                stat = handle.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                marked = marker in handle.read().split(b"\0")
        except OSError:
            continue  # exited meanwhile, or not ours to read
        table[int(entry.name)] = (stat.rsplit(")", 1)[1].split(), cmdline or stat, marked)

    def belongs(pid: int) -> bool:
        for _ in range(64):  # bounded walk up the parents
            entry = table.get(pid)
            if entry is None:
                return False
            if entry[2]:
                return True
            pid = int(entry[0][1])
        return False

    return [(pid, fields, cmdline) for pid, (fields, cmdline, _) in table.items() if belongs(pid)]


def server_cpu(state_dir: Path) -> dict[str, float]:
    """CPU seconds (utime + stime + reaped children's) of the twin's processes, by
    component: web, lb, db, other."""
    totals = {"web": 0.0, "lb": 0.0, "db": 0.0, "other": 0.0}
    for _, fields, cmdline in twin_processes(state_dir):
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        totals[component(cmdline)] += (utime + stime + cutime + cstime) / CLOCK_TICKS
    return totals


# --- measurements --------------------------------------------------------------------------------


def check_page(url: str, verify: str | bool) -> None:
    response = requests.get(url, timeout=10, verify=verify)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}")
    if url.endswith("/users/") and f"bench{USERS - 1:03d}" not in response.text:
        raise RuntimeError(f"{url}: the list does not show {USERS} users")


def measure(twin: Twin, url: str, args: argparse.Namespace) -> dict:
    run_wrk(url, duration=args.warmup, connections=args.connections, threads=args.threads)
    before = server_cpu(twin.layout.root)
    result = run_wrk(url, duration=args.duration, connections=args.connections, threads=args.threads)
    after = server_cpu(twin.layout.root)
    served = max(result["requests"], 1)
    cpu = {name: after[name] - before[name] for name in before}
    result["server_cpu_ms_per_request"] = {name: round(1000 * value / served, 3) for name, value in cpu.items()}
    result["server_cpu_ms_per_request"]["total"] = round(1000 * sum(cpu.values()) / served, 3)
    return result


def run(twin: Twin, args: argparse.Namespace, rows: list[dict], log) -> None:  # noqa: ANN001 - print-like
    ports = twin.instance_ports()
    first_port = next(iter(ports.values()))
    bases = {"direct": f"http://127.0.0.1:{first_port}", "lb": twin.lb_url.rstrip("/")}
    systems = args.systems.split(",")
    with tempfile.TemporaryDirectory(prefix="tt-recipe-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        recipes = {name: RecipeInstance(twin, name, port, root / "recipe") for name, port in ports.items()}
        (root / "recipe").mkdir()
        current = "threetier"
        try:
            for round_number in range(1, args.rounds + 1):
                # Alternate, and swap the order every round, so neither always goes first.
                order = systems if round_number % 2 else list(reversed(systems))
                for system in order:
                    if system != current:
                        use_system(twin, system, recipes)
                        current = system
                    for path in PATHS:
                        for route in ROUTES:
                            url = bases[route] + path
                            check_page(url, str(twin.ca_cert_path) if route == "lb" else False)
                            result = measure(twin, url, args)
                            row = {"round": round_number, "system": system, "route": route, "path": path, **result}
                            rows.append(row)
                            log(f"round {round_number} {system:9} {route:6} {path:9} "
                                f"{result['requests_per_second']:7.0f} req/s  p50 {result['latency_ms']['p50']:6.1f}"
                                f"  p99 {result['latency_ms']['p99']:6.1f} ms  errors {result['failed_requests']}"
                                f"  server {result['server_cpu_ms_per_request']['total']:.2f} ms/req"
                                f"  wrk {result['generator']['cpu_ms_per_request']:.3f} ms/req")
        finally:
            if current == "recipe":
                for recipe in recipes.values():
                    recipe.stop()


# --- a profile ---------------------------------------------------------------------------------


def gunicorn_workers(state_dir: Path) -> list[int]:
    """The twin's gunicorn workers (a gunicorn process whose parent is gunicorn)."""
    processes = {pid: (int(fields[1]), cmdline) for pid, fields, cmdline in twin_processes(state_dir)}

    def is_gunicorn(cmd: str) -> bool:
        return "\0gunicorn\0" in cmd and "webinstance" not in cmd

    return sorted(pid for pid, (parent, cmd) in processes.items()
                  if is_gunicorn(cmd) and is_gunicorn(processes.get(parent, (0, ""))[1]))


def top_frames(collapsed: str, limit: int = 15) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(self, inclusive) shares of the samples per frame, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    def share(table: dict[str, int]) -> list[tuple[str, float]]:
        return [(frame, 100 * n / total) for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:limit]]
    return (share(own), share(inclusive)) if total else ([], [])


def profile(twin: Twin, args: argparse.Namespace, log) -> dict:  # noqa: ANN001 - print-like
    """py-spy (the .venv's, `pip install py-spy`) records one worker while wrk loads /users/ via the LB."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        raise RuntimeError(f"{py_spy} is missing: .venv/bin/pip install py-spy")
    workers = gunicorn_workers(twin.layout.root)
    if not workers:
        raise RuntimeError("no gunicorn worker found")
    url = twin.lb_url.rstrip("/") + "/users/"
    run_wrk(url, duration=args.warmup, connections=args.connections, threads=args.threads)
    seconds = max(5, round(args.duration))
    # --gil: only the thread holding the GIL, i.e. what the worker spends its CPU on (its
    # other threads wait on sockets or for the GIL, which is not the worker's cost).
    recorder = subprocess.Popen([str(py_spy), "record", "--format", "raw", "--gil", "--nonblocking", "-r", "200",
                                 "-d", str(seconds), "-o", str(args.profile), "-p", str(workers[0])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = run_wrk(url, duration=seconds + 1, connections=args.connections, threads=args.threads)
    _, err = recorder.communicate(timeout=seconds + 60)
    if recorder.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.strip()[-300:]}")
    own, inclusive = top_frames(args.profile.read_text())
    log(f"profile of worker {workers[0]} under {result['requests_per_second']:.0f} req/s: {args.profile}")
    return {"worker": workers[0], "requests_per_second": result["requests_per_second"],
            "self": own, "inclusive": inclusive}


# --- the summary ----------------------------------------------------------------------------------


def summarize(rows: list[dict]) -> list[dict]:
    """Medians over the rounds per system, route and path, with the ratios."""
    out = []
    keys = sorted({(r["system"], r["route"], r["path"]) for r in rows},
                  key=lambda k: (PATHS.index(k[2]), ROUTES.index(k[1]), k[0] != "recipe"))
    for system, route, path in keys:
        mine = [r for r in rows if (r["system"], r["route"], r["path"]) == (system, route, path)]
        med = statistics.median
        out.append({
            "system": system, "route": route, "path": path, "rounds": len(mine),
            "requests_per_second": med(r["requests_per_second"] for r in mine),
            "rps_each": [r["requests_per_second"] for r in mine],
            "p50_ms": med(r["latency_ms"]["p50"] for r in mine),
            "p99_ms": med(r["latency_ms"]["p99"] for r in mine),
            "errors": sum(r["failed_requests"] for r in mine),
            "requests": sum(r["requests"] for r in mine),
            "server_cpu_ms": med(r["server_cpu_ms_per_request"]["total"] for r in mine),
            "web_cpu_ms": med(r["server_cpu_ms_per_request"]["web"] for r in mine),
            "lb_cpu_ms": med(r["server_cpu_ms_per_request"]["lb"] for r in mine),
            "db_cpu_ms": med(r["server_cpu_ms_per_request"]["db"] for r in mine),
            "other_cpu_ms": med(r["server_cpu_ms_per_request"]["other"] for r in mine),
            "wrk_cpu_ms": med(r["generator"]["cpu_ms_per_request"] for r in mine),
            "wrk_saturated": any(r["generator"]["saturated"] for r in mine),
        })
    by_key = {(s["system"], s["route"], s["path"]): s for s in out}
    for s in out:
        recipe = by_key.get(("recipe", s["route"], s["path"]))
        direct = by_key.get((s["system"], "direct", s["path"]))
        s["vs_recipe"] = round(s["requests_per_second"] / recipe["requests_per_second"], 2) if recipe else None
        s["lb_vs_direct"] = (round(s["requests_per_second"] / direct["requests_per_second"], 2)
                             if direct and s["route"] == "lb" else None)
        # The instances' side of the hop alone: their CPU per request direct / through the LB.
        # On AWS the ALB runs on its own capacity; on the twin Caddy shares the two cores, so
        # the req/s ratio also carries Caddy's CPU and wrk's TLS, which no instance pays there.
        s["lb_vs_direct_web_cpu"] = (round(direct["web_cpu_ms"] / s["web_cpu_ms"], 2)
                                     if direct and s["route"] == "lb" and s["web_cpu_ms"] else None)
        s["t3_micro_sustained_rps"] = (round(1000 * T3_MICRO_SUSTAINED_CPU_SECONDS_PER_SECOND / s["web_cpu_ms"])
                                       if s["web_cpu_ms"] else None)
    return out


def markdown_table(summary: list[dict]) -> str:
    lines = ["| path | route | system | req/s (median; each round) | p50 ms | p99 ms | errors | server CPU ms/req "
             "(web + LB + db + other) | wrk CPU ms/req | × recipe | LB / direct | LB / direct (web CPU) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        each = ", ".join(f"{v:.0f}" for v in s["rps_each"])
        lines.append(
            f"| {s['path']} | {'LB (Caddy, HTTPS)' if s['route'] == 'lb' else 'direct (HTTP)'} | {s['system']} "
            f"| {s['requests_per_second']:.0f} ({each}) | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | {s['errors']} "
            f"| {s['server_cpu_ms']:.2f} ({s['web_cpu_ms']:.2f} + {s['lb_cpu_ms']:.2f} + {s['db_cpu_ms']:.2f} + "
            f"{s['other_cpu_ms']:.2f}) | {s['wrk_cpu_ms']:.3f}{' (saturated)' if s['wrk_saturated'] else ''} "
            f"| {s['vs_recipe'] if s['vs_recipe'] is not None else '-'} "
            f"| {s['lb_vs_direct'] if s['lb_vs_direct'] is not None else '-'} "
            f"| {s['lb_vs_direct_web_cpu'] if s['lb_vs_direct_web_cpu'] is not None else '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_wrk()
    machine = machine_info()
    # The seeding signs up USERS users from one address, faster than the app's throttle allows.
    os.environ.setdefault("THREETIER_SIGNUP_RATE", "1000/minute")
    os.environ.setdefault("THREETIER_SIGNUP_RATE_ALL", "1000/minute")
    rows: list[dict] = []
    began = time.monotonic()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with running_twin(bench_spec()) as (twin, _up):
        seed_users(twin, USERS)
        wait_ready(twin)
        run(twin, args, rows, log)
        profiled = profile(twin, args, log) if args.profile else None
    summary = summarize(rows)
    machine["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(f"machine: {machine['cpus']} × {machine['cpu_model']}, Python {machine['python']}, "
          f"load average {machine['load_average_1m']} before, {machine['load_average_1m_after']} after; "
          f"wrk -t{args.threads} -c{args.connections}, {args.duration:.0f} s per measurement, "
          f"{args.rounds} rounds, {time.monotonic() - began:.0f} s in all")
    print(markdown_table(summary))
    for s in summary:
        if s["path"] == "/users/" and s["route"] == "lb":
            print(f"{s['system']}: a t3.micro sustains ~{s['t3_micro_sustained_rps']} req/s of /users/ "
                  f"(10 % of 2 vCPUs / {s['web_cpu_ms']:.2f} ms of web-tier CPU per request)")
    if profiled:
        print(f"profile (py-spy, one worker, {profiled['requests_per_second']:.0f} req/s through the LB):")
        print("  self time:")
        for frame, pct in profiled["self"]:
            print(f"    {pct:5.1f} %  {frame}")
        print("  inclusive:")
        for frame, pct in profiled["inclusive"]:
            print(f"    {pct:5.1f} %  {frame}")
    if any(s["wrk_saturated"] for s in summary):
        print("warning: wrk was saturated in some measurements: those rates are the generator's, not the system's")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "settings": vars(args) | {"json": str(args.json)},
                                         "summary": summary, "rows": rows,
                                         "profile": profiled}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
