"""Caddy as the twin's load balancer: the Caddyfile, and the LB's own view of target health.

What the ALB does and how Caddy does it here, with `local.lb_semantics = "alb"` (the default):
  HTTPS listener + ACM cert      `tls internal`: Caddy's local CA, kept in the state dir
  HTTP → HTTPS redirect          a plain-HTTP site answering 301 to the public URL
  target group health check      active checks only: the same path, interval, timeout,
                                 thresholds and matcher (200); no passive health
  a request to a dead target     no retry: the client gets 502 (refused), 504 (no answer),
                                 with an ALB-like body, until the health check takes it out
  every target unhealthy         fail-open: Caddy finds no available upstream (its own 503),
                                 and `handle_errors 503` hands the request to a second server
                                 (on a unix socket) that proxies to every instance without
                                 health checks, so a dead one answers 502 as through an ALB
  the sorry site (S3+CloudFront) a site on its own unix socket: 503 + the sorry page, no-store,
                                 on every path; the failover stage (failover.py, Route 53's
                                 part) sends clients there
  deregistration (draining)      `deregister()` in replacer.py asks a third server (unix socket)
                                 to count one passive failure against the target, kept for the
                                 deregistration delay; the main handler honours it (`max_fails
                                 1`) but counts no failure of its own (no `fail_duration`), so a
                                 draining target gets no new request while its in-flight ones
                                 finish, and a killed one still costs 502s until the health check
  listener rules                 only the LB's own names (127.0.0.1, localhost) reach the app;
                                 any other Host gets 404 from the LB itself, as the ALB's default
                                 action (a fixed response) behind its host-header rule does
  security headers, body cap     Strict-Transport-Security on every HTTPS answer (the ALB's
                                 listener attribute); a body declared larger than the app's
                                 largest request (threetier.webapp.limits) gets 413 before any
                                 of it is read, a chunked one at the cap (`request_body`)
  CloudFront (local.cdn_port)    a site in front of the LB with an origin group: GET, HEAD and
                                 OPTIONS answered 500/502/503/504 by the LB, or not answered,
                                 get the sorry page (the secondary origin) per request; any
                                 other method gets the LB's answer (CloudFront fails over only
                                 those three methods)

Caddy keeps active health per handler: the fail-open server's upstreams (the same
addresses) are not marked unhealthy by the main one's checks; only the passive failure
count is shared by address, and neither server uses passive health in "alb" mode. The
integration tests prove it (a request is served while every target is unhealthy).

`"ideal"` is the twin as it was first built, kept to compare against: a failed dial is
retried on the next instance (bounded by `lb_try_duration` = local.lb_try_duration_seconds
and `lb_retries`, two tries per instance, so with every instance down the sorry page
comes after retries × lb_try_interval, 0.4 s for 2 instances), passive health skips a
refusing target at once, and the LB itself answers 502/503/504 with the sorry page.

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
from threetier.webapp.limits import MULTIPART_BODY_MAX

TRY_INTERVAL_SECONDS = 0.1
SORRY_STATUS = 503
SEMANTICS = ("alb", "ideal")
HEALTH_EVENT_TAGS = ('"healthy"', '"unhealthy"', '"started"')
# An ALB gives a target 10 s to accept a connection, waits for its answer up to the idle
# timeout (60 s by default; the stacks keep the default) before answering 504, and keeps
# an idle connection to a target that long too (checks/parity.py holds the stack to it).
ALB_CONNECT_TIMEOUT = "10s"
ALB_IDLE_TIMEOUT_SECONDS = 60
ALB_RESPONSE_TIMEOUT = f"{ALB_IDLE_TIMEOUT_SECONDS}s"
# The ALB's HSTS (a listener attribute) and the twin's: a year, no subdomains (as the app's own).
HSTS_VALUE = "max-age=31536000"
UNKNOWN_HOST_STATUS = 404
# CloudFront's origin failover: these answers of the primary (or none) go to the secondary,
# for these methods only (CloudFront developer guide, "Optimize high availability with
# CloudFront origin failover").
ORIGIN_FAILOVER_STATUSES = (500, 502, 503, 504)
ORIGIN_FAILOVER_METHODS = ("GET", "HEAD", "OPTIONS")
# CloudFront's defaults for a custom origin: connection timeout 10 s, response timeout 30 s.
CDN_CONNECT_TIMEOUT = "10s"
CDN_RESPONSE_TIMEOUT = "30s"
# What an ALB's own error responses look like (a short HTML page with the status).
TOO_LARGE_BODY = (
    "<html><head><title>413 Request Entity Too Large</title></head>"
    "<body><center><h1>413 Request Entity Too Large</h1></center></body></html>"
)
ALB_ERROR_BODY = (
    "<html><head><title>{err.status_code} {err.status_text}</title></head>"
    "<body><center><h1>{err.status_code} {err.status_text}</h1></center></body></html>"
)


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration: 10 → '10s', 0.5 → '500ms'."""
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


@dataclass(frozen=True)
class LbSettings:
    http_port: int  # the HTTP → HTTPS redirect
    lb_port: int  # the load balancer's own HTTPS listener (local.lb_port)
    public_port: int  # the public URL (local.https_port): where the redirect sends clients
    upstream_ports: list[int]
    health: dict  # spec.twin_health_check()
    try_duration_seconds: float  # "ideal" only
    semantics: str = "alb"  # local.lb_semantics
    deregistration_delay_seconds: float = 30.0  # how long a deregistered target stays out
    cdn_port: int | None = None  # local.cdn_port: the CloudFront stage ("alb" only); None: none
    body_max_bytes: int = MULTIPART_BODY_MAX


def lb_retries(settings: LbSettings) -> int:
    if settings.semantics == "alb" or settings.try_duration_seconds == 0:
        return 0
    return 2 * len(settings.upstream_ports)


def failopen_socket(layout: Layout) -> Path:
    """The fail-open server: every instance, no health checks (ALB fail-open)."""
    return layout.run / "lb-failopen.sock"


def sorry_socket(layout: Layout) -> Path:
    """The sorry site (the S3 + CloudFront SECONDARY of the failover pair)."""
    return layout.run / "sorry-site.sock"


def deregister_socket(layout: Layout) -> Path:
    """The deregistration server: GET /deregister/<port> takes that target out (replacer.deregister)."""
    return layout.run / "lb-deregister.sock"


def render_caddyfile(settings: LbSettings, layout: Layout, sorry_page: Path = SORRY_PAGE) -> str:
    if settings.semantics not in SEMANTICS:
        raise ValueError(f"unknown lb semantics {settings.semantics!r}")
    lb, public = settings.lb_port, settings.public_port
    alb = settings.semantics == "alb"
    site = _alb_site(settings, layout) if alb else _ideal_site(settings, sorry_page)
    failopen = _failopen_server(settings, layout) if alb else ""
    cdn = _cdn_site(settings) if alb and settings.cdn_port else ""
    length = "{http.request.header.Content-Length}"
    return f"""\
# Written by threetier on every `up`; edits are overwritten. The twin's load balancer
# (local.lb_semantics = "{settings.semantics}") and the sorry site.
{{
\tadmin unix/{layout.caddy_admin_socket}
\tpersist_config off
\tlocal_certs
\tskip_install_trust
\t# A connection on a unix socket has no local IP to choose a certificate by.
\tdefault_sni 127.0.0.1
\tauto_https disable_redirects
\thttp_port {settings.http_port}
\thttps_port {lb}
\tgrace_period 2s
\tservers {{
\t\tprotocols h1 h2
\t}}
\tlog {{
\t\toutput stderr
\t\tformat json
\t\tlevel INFO
\t}}
\tlog lbhealth {{
\t\tinclude events
\t\toutput file {layout.lb_health_log} {{
\t\t\troll_size 10MiB
\t\t\troll_keep 1
\t\t}}
\t\tformat json
\t\tlevel DEBUG
\t}}
}}

(alb_error) {{
\theader Content-Type "text/html"
\trespond "{ALB_ERROR_BODY}" {{err.status_code}}
}}

(sorry_page) {{
\troot * {sorry_page.parent}
\trewrite * /{sorry_page.name}
\theader Cache-Control "no-store"
\theader Retry-After "10"
\theader Strict-Transport-Security "{HSTS_VALUE}"
\tfile_server {{
\t\tstatus {SORRY_STATUS}
\t}}
}}

# The ALB's listener: HSTS on every answer (set after the target's, so never twice), and a
# body declared larger than the app's largest request refused before any of it is read.
(listener) {{
\theader >Strict-Transport-Security "{HSTS_VALUE}"
\trequest_body {{
\t\tmax_size {settings.body_max_bytes}
\t}}
\t@too_large expression `{length} != "" && int({length}) > {settings.body_max_bytes}`
\thandle @too_large {{
\t\theader Connection close
\t\theader Content-Type "text/html"
\t\trespond "{TOO_LARGE_BODY}" 413
\t}}
}}

https://127.0.0.1:{lb}, https://localhost:{lb} {{
\tbind 127.0.0.1
\ttls internal
\timport listener
{site}}}

# Any other Host: the listener's default action, a fixed response (no target sees it).
https://:{lb} {{
\tbind 127.0.0.1
\ttls internal
\theader Strict-Transport-Security "{HSTS_VALUE}"
\theader Content-Type "text/plain"
\trespond "unknown host" {UNKNOWN_HOST_STATUS}
}}
{failopen}{_deregister_server(settings, layout)}{cdn}
# The sorry site: the failover stage sends clients here once Route 53 would have.
https://127.0.0.1:{public}, https://localhost:{public} {{
\tbind unix/{sorry_socket(layout)}
\ttls internal
\timport sorry_page
}}

http://127.0.0.1:{settings.http_port}, http://localhost:{settings.http_port} {{
\tbind 127.0.0.1
\tredir https://{{host}}:{public}{{uri}} 301
}}

http://:{settings.http_port} {{
\tbind 127.0.0.1
\theader Content-Type "text/plain"
\trespond "unknown host" {UNKNOWN_HOST_STATUS}
}}
"""


def _health_lines(health: dict) -> str:
    return f"""\
\t\thealth_uri {health["path"]}
\t\thealth_interval {go_duration(float(health["interval_seconds"]))}
\t\thealth_timeout {go_duration(float(health["timeout_seconds"]))}
\t\thealth_passes {int(health["healthy_threshold"])}
\t\thealth_fails {int(health["unhealthy_threshold"])}
\t\thealth_status 200
"""


def _upstreams(settings: LbSettings) -> str:
    return " ".join(f"127.0.0.1:{port}" for port in settings.upstream_ports)


def _alb_site(settings: LbSettings, layout: Layout) -> str:
    upstreams = _upstreams(settings)
    # `max_fails 1` without `fail_duration`: this handler counts no failure of its own (an
    # ALB has no passive health), but skips a target the deregistration server failed.
    return f"""\
\treverse_proxy {upstreams} {{
\t\tlb_policy round_robin
\t\tlb_try_duration 0
\t\tlb_retries 0
\t\tmax_fails 1
{_health_lines(settings.health)}\t\ttransport http {{
\t\t\tdial_timeout {ALB_CONNECT_TIMEOUT}
\t\t\tresponse_header_timeout {ALB_RESPONSE_TIMEOUT}
\t\t\tkeepalive {ALB_RESPONSE_TIMEOUT}
\t\t}}
\t}}
\t# Every target unhealthy: Caddy's "no upstreams available" (503) → fail-open.
\thandle_errors 503 {{
\t\treverse_proxy unix/{failopen_socket(layout)}
\t}}
\thandle_errors {{
\t\timport alb_error
\t}}
"""


def _failopen_server(settings: LbSettings, layout: Layout) -> str:
    return f"""
# Fail-open (an ALB routes to every target when all are unhealthy): no health checks here.
http:// {{
\tbind unix/{failopen_socket(layout)}
\treverse_proxy {_upstreams(settings)} {{
\t\tlb_policy round_robin
\t\theader_up X-Forwarded-Proto https
\t\ttransport http {{
\t\t\tdial_timeout {ALB_CONNECT_TIMEOUT}
\t\t\tresponse_header_timeout {ALB_RESPONSE_TIMEOUT}
\t\t\tkeepalive {ALB_RESPONSE_TIMEOUT}
\t\t}}
\t}}
\thandle_errors {{
\t\timport alb_error
\t}}
}}
"""


def _deregister_server(settings: LbSettings, layout: Layout) -> str:
    """One handler per target: a request to /deregister/<port> reaches the target's health
    path and counts one passive failure against its address, whatever it answers (or a
    failed dial), for the deregistration delay. Caddy keeps the failure count per address,
    shared by every handler, so the LB's own handler skips the target from then on."""
    delay = go_duration(max(0.001, float(settings.deregistration_delay_seconds)))
    blocks = "".join(f"""\thandle /deregister/{port} {{
\t\trewrite * {settings.health["path"]}
\t\treverse_proxy 127.0.0.1:{port} {{
\t\t\theader_up Host 127.0.0.1
\t\t\tfail_duration {delay}
\t\t\tmax_fails 1
\t\t\tunhealthy_status 2xx 3xx 4xx 5xx
\t\t}}
\t}}
""" for port in settings.upstream_ports)
    return f"""
# Deregistration (an ALB draining a target): replacer.deregister asks here.
http:// {{
\tbind unix/{deregister_socket(layout)}
{blocks}\thandle {{
\t\trespond "unknown target" 404
\t}}
}}
"""


def _cdn_site(settings: LbSettings) -> str:
    """CloudFront in front of the ALB with an origin group (primary the LB, secondary the
    sorry site), failing over per request for GET/HEAD/OPTIONS only."""
    methods = " ".join(ORIGIN_FAILOVER_METHODS)
    statuses = " ".join(str(code) for code in ORIGIN_FAILOVER_STATUSES)
    origin = f"""reverse_proxy https://127.0.0.1:{settings.lb_port} {{
\t\t\ttransport http {{
\t\t\t\ttls_insecure_skip_verify
\t\t\t\tdial_timeout {CDN_CONNECT_TIMEOUT}
\t\t\t\tresponse_header_timeout {CDN_RESPONSE_TIMEOUT}
\t\t\t}}"""
    return f"""
# CloudFront (local.cdn_port): an origin group, primary the LB, secondary the sorry site.
https://127.0.0.1:{settings.cdn_port}, https://localhost:{settings.cdn_port} {{
\tbind 127.0.0.1
\ttls internal
\t@failover_methods method {methods}
\thandle @failover_methods {{
\t\t{origin}
\t\t\t@origin_error status {statuses}
\t\t\thandle_response @origin_error {{
\t\t\t\timport sorry_page
\t\t\t}}
\t\t}}
\t}}
\thandle {{
\t\t{origin}
\t\t}}
\t}}
\t# The origin did not answer: the secondary for GET/HEAD/OPTIONS, else CloudFront's 502.
\thandle_errors {{
\t\t@failover_errors method {methods}
\t\thandle @failover_errors {{
\t\t\timport sorry_page
\t\t}}
\t\thandle {{
\t\t\timport alb_error
\t\t}}
\t}}
}}

# Any other Host: CloudFront answers 403 for a name that is not one of the distribution's.
https://:{settings.cdn_port} {{
\tbind 127.0.0.1
\ttls internal
\theader Content-Type "text/plain"
\trespond "unknown host" 403
}}
"""


def _ideal_site(settings: LbSettings, sorry_page: Path) -> str:
    health = settings.health
    # Passive health: a target that refuses a connection is skipped at once, so the
    # requests after it need no retry each. Only briefly (at most 2 s): the active check
    # decides about longer outages, and a restarted instance is not kept out longer.
    fail_duration = go_duration(min(2.0, float(health["interval_seconds"])))
    return f"""\
\treverse_proxy {_upstreams(settings)} {{
\t\tlb_policy round_robin
\t\tlb_try_duration {go_duration(settings.try_duration_seconds)}
\t\tlb_try_interval {go_duration(TRY_INTERVAL_SECONDS)}
\t\tlb_retries {lb_retries(settings)}
{_health_lines(health)}\t\tfail_duration {fail_duration}
\t\tmax_fails 1
\t\ttransport http {{
\t\t\tdial_timeout 2s
\t\t}}
\t}}
\thandle_errors 502 503 504 {{
\t\troot * {sorry_page.parent}
\t\trewrite * /{sorry_page.name}
\t\theader Cache-Control "no-store"
\t\theader Retry-After "10"
\t\tfile_server {{
\t\t\tstatus {SORRY_STATUS}
\t\t}}
\t}}
"""


def caddy_service(executable: str, settings: LbSettings, layout: Layout) -> Service:
    home = layout.caddy_home
    return Service(
        name="lb",
        kind="loadbalancer",
        command=[executable, "run", "--config", str(layout.caddyfile), "--adapter", "caddyfile"],
        # The local CA and certificates live in the state dir, not in the user's home.
        env={"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home)},
        port=settings.lb_port,
        port_key="local.lb_port",
        probe=Probe("https", settings.lb_port, "/"),
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
        # Every TLS handshake logs an event too; only these three matter (and cost a parse).
        if '"event"' not in line or not any(tag in line for tag in HEALTH_EVENT_TAGS):
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
