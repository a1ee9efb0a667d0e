"""Caddy as the twin's load balancer: the Caddyfile, and the LB's own view of target health.

What the ALB does and how Caddy does it here:
  HTTPS listener + ACM cert      `tls internal`: Caddy's local CA, kept in the state dir
  HTTP → HTTPS redirect          a plain-HTTP site answering 301 to the HTTPS URL
  target group health check      active checks: same path, interval, timeout, thresholds
  a dead target costs no request retries: a failed dial is retried on the next instance
  Route 53 failover → sorry page `handle_errors`: 503 + the sorry page, no-store

Retries are bounded twice: by `lb_try_duration` (local.lb_try_duration_seconds) and
by `lb_retries` (two tries per instance). The second bound matters when every
instance is down: Caddy then finds no available upstream on each try, and without a
retry count every request would wait the full try duration before the sorry page.
With it, the sorry page comes after retries × lb_try_interval (0.4 s for 2 instances).

Target health: Caddy's admin API (/reverse_proxy/upstreams) reports request and
passive-failure counts only, not the active health state. Caddy does emit a
`healthy`/`unhealthy` event whenever a target changes state. Those events are logged
to their own file and read back here, so `status` shows the load balancer's decision,
thresholds included, not a second opinion from our own probe. (Unlike an ALB, Caddy
starts a target as healthy and checks it at once; `up` starts the instances first and
waits for their /readyz, so this does not send traffic to an instance still booting.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from threetier.local.layout import Layout
from threetier.local.services import Probe, Service
from threetier.paths import SORRY_PAGE

TRY_INTERVAL_SECONDS = 0.1
SORRY_STATUS = 503


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration: 10 → '10s', 0.5 → '500ms'."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@dataclass(frozen=True)
class LbSettings:
    http_port: int
    https_port: int
    upstream_ports: list[int]
    health: dict  # spec.twin_health_check()
    try_duration_seconds: float


def lb_retries(settings: LbSettings) -> int:
    return 0 if settings.try_duration_seconds == 0 else 2 * len(settings.upstream_ports)


def render_caddyfile(settings: LbSettings, layout: Layout, sorry_page: Path = SORRY_PAGE) -> str:
    health = settings.health
    upstreams = " ".join(f"127.0.0.1:{port}" for port in settings.upstream_ports)
    https = settings.https_port
    # Passive health: a target that refuses a connection is skipped at once, so the
    # requests after it need no retry each. Only briefly (at most 2 s): the active check
    # decides about longer outages, and a restarted instance is not kept out longer.
    fail_duration = go_duration(min(2.0, float(health["interval_seconds"])))
    return f"""\
# Written by threetier on every `up`; edits are overwritten. The twin's load balancer.
{{
	admin unix/{layout.caddy_admin_socket}
	persist_config off
	local_certs
	skip_install_trust
	auto_https disable_redirects
	http_port {settings.http_port}
	https_port {https}
	grace_period 2s
	servers {{
		protocols h1 h2
	}}
	log {{
		output stderr
		format json
		level INFO
	}}
	log lbhealth {{
		include events
		output file {layout.lb_health_log} {{
			roll_size 10MiB
			roll_keep 1
		}}
		format json
		level DEBUG
	}}
}}

https://127.0.0.1:{https}, https://localhost:{https} {{
	bind 127.0.0.1
	tls internal
	reverse_proxy {upstreams} {{
		lb_policy round_robin
		lb_try_duration {go_duration(settings.try_duration_seconds)}
		lb_try_interval {go_duration(TRY_INTERVAL_SECONDS)}
		lb_retries {lb_retries(settings)}
		health_uri {health["path"]}
		health_interval {go_duration(float(health["interval_seconds"]))}
		health_timeout {go_duration(float(health["timeout_seconds"]))}
		health_passes {int(health["healthy_threshold"])}
		health_fails {int(health["unhealthy_threshold"])}
		health_status 200
		fail_duration {fail_duration}
		max_fails 1
		transport http {{
			dial_timeout 2s
		}}
	}}
	handle_errors 502 503 504 {{
		root * {sorry_page.parent}
		rewrite * /{sorry_page.name}
		header Cache-Control "no-store"
		header Retry-After "10"
		file_server {{
			status {SORRY_STATUS}
		}}
	}}
}}

http://127.0.0.1:{settings.http_port}, http://localhost:{settings.http_port} {{
	bind 127.0.0.1
	redir https://{{host}}:{https}{{uri}} 301
}}
"""


def caddy_service(executable: str, settings: LbSettings, layout: Layout) -> Service:
    home = layout.caddy_home
    return Service(
        name="lb",
        kind="loadbalancer",
        command=[executable, "run", "--config", str(layout.caddyfile), "--adapter", "caddyfile"],
        # The local CA and certificates live in the state dir, not in the user's home.
        env={"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home)},
        port=settings.https_port,
        port_key="local.https_port",
        probe=Probe("https", settings.https_port, "/"),
        directory=str(home),
        autorestart=True,
        stop_signal="TERM",
        stop_wait_seconds=5,
        start_seconds=1,
        priority=30,
    )


def target_health_from_events(
    lines: list[str],
    ports: list[int],
    *,
    initial: dict[int, bool | None] | None = None,
    transitions: list[tuple[float, int, bool]] | None = None,
) -> dict[int, bool | None]:
    """Each upstream port's health as Caddy last decided it (None: unknown).

    `transitions`, when given, receives every (Caddy's timestamp, port, healthy) change:
    a drill needs the moment of each change, even when a change and its reversal both
    happen between two polls.

    Caddy starts every upstream as healthy (its `started` event), checks at once, and
    emits `healthy`/`unhealthy` only on a change, so the state is: healthy since the
    last start unless a later event says otherwise.
    """
    state: dict[int, bool | None] = dict(initial) if initial else {port: None for port in ports}
    for line in lines:
        if '"event"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        name = record.get("name")
        if record.get("msg") != "event":
            continue
        if name == "started":
            state = {port: True for port in ports}
            continue
        host = (record.get("data") or {}).get("host", "")
        if name not in ("healthy", "unhealthy") or ":" not in host:
            continue
        port = int(host.rsplit(":", 1)[1])
        if port in state:
            state[port] = name == "healthy"
            if transitions is not None:
                transitions.append((float(record.get("ts", 0.0)), port, name == "healthy"))
    return state


class TargetHealthReader:
    """Follows the events log incrementally, so polling it (drills poll every 50 ms)
    reads only what is new. Every TLS handshake also logs an event, so the file rolls;
    a fresh reader starts from the newest rolled file, then the current one.
    """

    def __init__(self, log: Path, ports: list[int]):
        self.log, self.ports = log, ports
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._state: dict[int, bool | None] = {port: None for port in ports}
        self.transitions: list[tuple[float, int, bool]] = []  # (Caddy's epoch time, port, healthy)

    def read(self) -> dict[int, bool | None]:
        try:
            info = self.log.stat()
        except OSError:
            return {port: None for port in self.ports}
        if info.st_ino != self._inode or info.st_size < self._offset:
            self._inode, self._offset, self._partial = info.st_ino, 0, b""
            self._state = {port: None for port in self.ports}
            rolled = sorted(
                self.log.parent.glob(f"{self.log.stem}-*{self.log.suffix}"), key=lambda p: p.stat().st_mtime
            )
            if rolled:
                self._feed(rolled[-1].read_bytes(), final=True)
        if info.st_size > self._offset:
            with self.log.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read(info.st_size - self._offset)
            self._offset += len(chunk)
            self._feed(chunk)
        return dict(self._state)

    def _feed(self, data: bytes, *, final: bool = False) -> None:
        data = self._partial + data
        cut = len(data) if final else data.rfind(b"\n") + 1
        self._partial = b"" if final else data[cut:]
        lines = data[:cut].decode(errors="replace").splitlines()
        # Continue from what is known so far; a `started` event in the new lines resets it.
        self._state = target_health_from_events(
            lines, self.ports, initial=self._state, transitions=self.transitions
        )
        del self.transitions[:-1000]  # a long-lived reader keeps only the recent history


def read_target_health(log: Path, ports: list[int]) -> dict[int, bool | None]:
    """The load balancer's current view of each upstream, read once from its events log."""
    return TargetHealthReader(log, ports).read()
