"""wrk (the system's, Debian package `wrk`) as a load generator, with its own CPU cost.

wrk is an event-driven C client: over HTTPS on loopback it spends a few tens of
microseconds of CPU per request, a small fraction of what the system under test spends,
so the numbers are the system's and not the generator's (Locust's single gevent
process spends 1.5-1.8 ms per HTTPS request and fills a core near 700 req/s).

>>> result = run_wrk("https://127.0.0.1:8443/users/", duration=10, connections=100)
>>> result["requests_per_second"], result["latency_ms"]["p99"], result["generator"]["cpu_ms_per_request"]

A Lua script (written to a temp file) reports the numbers as one JSON line: requests,
latency percentiles, socket errors and non-2xx/3xx answers, and, when asked, the
status codes and the X-Threetier-Instance header of every answer (that costs wrk a Lua
call per response, so the side-by-side benchmark leaves it off). wrk does not verify
the server's certificate; the caller checks the URL with a verifying client first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from threetier.errors import ThreetierError

RESULT_MARK = "THREETIER-WRK-RESULT "
INSTANCE_HEADER = "X-Threetier-Instance"
WRK_FIX = "install wrk: run ./scripts/ensure-wrk as root (Debian: apt-get install wrk), or use --engine locust"

# done() runs once in the main Lua state after every thread stopped; each thread's
# counters are fetched with thread:get (tables are copied between the Lua states).
_DONE = r"""
local function emit(summary, latency, extra)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
                  e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}',
                  latency.mean, latency:percentile(50), latency:percentile(90),
                  latency:percentile(95), latency:percentile(99), latency.max),
  }
  if extra then table.insert(parts, extra) end
  io.write("THREETIER-WRK-RESULT {" .. table.concat(parts, ",") .. "}\n")
end
"""

_PLAIN = _DONE + r"""
function done(summary, latency, requests)
  emit(summary, latency, nil)
end
"""

# Counting per response: status codes and the serving instance.
_COUNTING = _DONE + r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  statuses, instances = {}, {}
end
function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  local who = headers["X-Threetier-Instance"] or headers["x-threetier-instance"] or "(none)"
  instances[who] = (instances[who] or 0) + 1
end
local function merge(into, from)
  for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end
local function object(t)
  local out = {}
  for k, v in pairs(t) do
    table.insert(out, string.format('"%s":%d', tostring(k):gsub('[%c"\\]', '?'), v))
  end
  return "{" .. table.concat(out, ",") .. "}"
end
function done(summary, latency, requests)
  local statuses_all, instances_all = {}, {}
  for _, t in ipairs(threads) do
    merge(statuses_all, t:get("statuses"))
    merge(instances_all, t:get("instances"))
  end
  emit(summary, latency,
       '"status_codes":' .. object(statuses_all) .. ',"instances":' .. object(instances_all))
end
"""


def wrk_executable() -> str | None:
    return shutil.which("wrk")


def require_wrk() -> str:
    found = wrk_executable()
    if not found:
        raise ThreetierError("wrk is not installed", fix=WRK_FIX)
    return found


def lua_script(*, count: bool) -> str:
    """The script's text: plain (numbers only) or counting (status codes and instances)."""
    return _COUNTING if count else _PLAIN


def parse_output(stdout: str) -> dict:
    """The JSON line the script printed; a ThreetierError naming wrk's own output if none."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = "\n".join(stdout.strip().splitlines()[-5:])
    raise ThreetierError(f"wrk printed no result:\n{tail}", fix="run the same wrk command by hand to see why")


def summarize(raw: dict, *, url: str, connections: int, threads: int, cpu_seconds: float, wall_seconds: float) -> dict:
    """wrk's numbers in `threetier bench`'s result shape, plus the generator's own cost."""
    seconds = raw["duration_us"] / 1e6 or wall_seconds
    requests = raw["requests"]
    errors = raw["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    latency = raw["latency_us"]
    usable_cores = min(threads, os.cpu_count() or 1)
    busy = cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0
    return {
        "url": url,
        "engine": "wrk",
        "requests": requests,
        "concurrency": connections,
        "failed_requests": errors["status"] + socket_errors,
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1) if seconds > 0 else 0.0,
        "latency_ms": {
            "mean": round(latency["mean"] / 1000, 2),
            "p50": round(latency["p50"] / 1000, 2),
            "p90": round(latency["p90"] / 1000, 2),
            "p95": round(latency["p95"] / 1000, 2),
            "p99": round(latency["p99"] / 1000, 2),
            "max": round(latency["max"] / 1000, 2),
        },
        "status_codes": raw.get("status_codes", {}),
        "instances": raw.get("instances", {}),
        "errors": {f"socket {kind}": n for kind, n in errors.items() if n and kind != "status"}
        | ({"non-2xx/3xx answers": errors["status"]} if errors["status"] else {}),
        "timed_out": False,
        "generator": generator_cost(cpu_seconds, wall_seconds, requests, usable_cores=usable_cores),
        "_busy": round(busy, 3),
    }


def generator_cost(cpu_seconds: float, wall_seconds: float, requests: int, *, usable_cores: float) -> dict:
    """The load generator's own CPU: per request, as a share of the cores it can use, and
    whether it was saturated (≥ 90 % of them busy: then it, not the system, set the rate)."""
    busy = cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0
    share = busy / usable_cores if usable_cores else 0.0
    return {
        "cpu_seconds": round(cpu_seconds, 3),
        "cpu_ms_per_request": round(1000 * cpu_seconds / requests, 4) if requests else None,
        "cores_busy": round(busy, 2),
        "usable_cores": usable_cores,
        "saturated": share >= 0.9,
    }


def run_wrk(
    url: str,
    *,
    duration: float = 10.0,
    connections: int = 100,
    threads: int = 2,
    timeout: float = 30.0,
    count: bool = False,
    wrk: str | None = None,
) -> dict:
    """Load `url` for `duration` seconds with `connections` open connections over
    `threads` threads (wrk knows durations, not request counts); with `count`, also the
    status codes and instances of the answers. Returns the numbers and the generator's
    CPU (utime + stime of wrk)."""
    executable = wrk or require_wrk()
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory(prefix="threetier-wrk-") as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(lua_script(count=count))
        command = [
            executable, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
            "--timeout", f"{max(1, round(timeout))}s", "-s", str(script), url,
        ]
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out_path.open("w") as out, err_path.open("w") as err:
            began = time.monotonic()
            process = subprocess.Popen(command, stdout=out, stderr=err)
            returncode, usage = wait_with_rusage(process.pid, timeout=duration + timeout + 30)
            process.returncode = returncode  # reaped here; Popen must not wait for it again
            wall = time.monotonic() - began
        stdout, stderr = out_path.read_text(), err_path.read_text()
    if returncode != 0:
        raise ThreetierError(f"wrk failed (exit {returncode}): {stderr.strip()[-300:]}",
                             fix="check the URL with curl")
    result = summarize(parse_output(stdout), url=url, connections=connections, threads=threads,
                       cpu_seconds=usage, wall_seconds=wall)
    result.pop("_busy", None)
    return result


def wait_with_rusage(pid: int, *, timeout: float) -> tuple[int, float]:
    """Wait (bounded) for child `pid`; its exit code and CPU seconds (utime + stime, from
    wait4: Popen's own wait would drop the child's rusage). Killed after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.wait4(pid, 0)
            raise ThreetierError(f"the load generator did not finish within {timeout:.0f} s")
        time.sleep(0.05)
