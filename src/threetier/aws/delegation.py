"""A domain's hosted zone and its delegation: what must be true before a certificate is requested.

ACM validates a DNS-validated certificate by looking up a CNAME in the public DNS. That
lookup reaches the Route 53 zone only when the parent zone (the registrar, for a
registered domain) delegates to the zone's four name servers. Without the delegation,
CloudFormation waits on the certificate for hours and then rolls the whole stack back.

So threetier never creates the zone inside its stacks (a zone created there would get new
name servers every time the stack is re-created after a `destroy`, silently breaking the
delegation each time): the zone is created once, delegated once, and imported by
`dns.hosted_zone_id`. `threetier deploy` checks, before CDK runs, that the zone exists,
has the expected name, and that the public DNS answers with its name servers
(`delegation_problem`, with `public_name_servers` as the lookup).

>>> delegation_problem("example.com", ["ns-1.awsdns-01.org"], public_name_servers)
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

from threetier import spec as model

RESOLV_CONF = Path("/etc/resolv.conf")
DNS_PORT = 53
LOOKUP_TIMEOUT_SECONDS = 3.0
_TYPE_NS = 2
_CLASS_IN = 1


def missing_zone_message(dns: model.Dns) -> tuple[str, str]:
    """(message, fix) for a domain without `dns.hosted_zone_id`: how to create and delegate the zone."""
    zone = dns.zone
    message = (
        f"dns.domain {dns.domain} needs an existing, delegated Route 53 hosted zone for {zone} "
        "(dns.hosted_zone_id): certificates are validated through the public DNS, which reaches "
        "the zone only once the registrar delegates to its name servers; a zone created by the "
        "stack would get new name servers on every re-create and leave ACM validation hanging"
    )
    fix = (
        f"create the zone once (Route 53 console → Hosted zones → Create hosted zone → {zone}, "
        f"or `aws route53 create-hosted-zone --name {zone} --caller-reference threetier-{zone}`), "
        "enter its four NS records at your registrar (or in the parent zone), wait until "
        f"`dig +short NS {zone}` prints them, then set dns.hosted_zone_id to the zone's id "
        "(Z...) in the parameters file"
    )
    return message, fix


def normalize(name: str) -> str:
    return name.lower().rstrip(".")


def delegation_problem(
    zone: str, expected: Iterable[str], lookup: Callable[[str], list[str]]
) -> str | None:
    """None when the public DNS answers `zone`'s NS query with the zone's own name servers
    (`expected`, from Route 53), else what is wrong, in one sentence."""
    wanted = {normalize(n) for n in expected}
    try:
        found = {normalize(n) for n in lookup(zone)}
    except OSError as exc:
        return f"the public DNS could not be asked for the name servers of {zone} ({exc})"
    if not found:
        return f"the public DNS knows no name servers for {zone}: it is not delegated yet"
    if not found & wanted:
        return (
            f"the public DNS delegates {zone} to {', '.join(sorted(found))}, not to this "
            f"hosted zone's {', '.join(sorted(wanted))}"
        )
    return None


def system_resolvers(path: Path = RESOLV_CONF) -> list[str]:
    """The `nameserver` addresses of resolv.conf."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [
        parts[1]
        for parts in (line.split() for line in lines)
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]


def public_name_servers(zone: str, *, resolvers: list[str] | None = None) -> list[str]:
    """The NS records of `zone` as the system's resolver answers them (one UDP query per
    resolver until one answers). OSError when none answers."""
    servers = resolvers if resolvers is not None else system_resolvers()
    if not servers:
        raise OSError(f"no nameserver in {RESOLV_CONF}")
    last: OSError = OSError("no answer")
    for server in servers:
        try:
            return ns_query(zone, server)
        except OSError as exc:
            last = exc
    raise last


def ns_query(zone: str, server: str, *, port: int = DNS_PORT) -> list[str]:
    """One recursive NS query over UDP (RFC 1035), answer section only."""
    query_id = random.randrange(1 << 16)  # noqa: S311 - a DNS transaction id, not a secret
    question = b"".join(
        bytes([len(label)]) + label.encode("ascii") for label in normalize(zone).split(".")
    )
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + b"\0"
    packet += struct.pack(">HH", _TYPE_NS, _CLASS_IN)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(LOOKUP_TIMEOUT_SECONDS)
        sock.sendto(packet, (server, port))
        reply, _ = sock.recvfrom(4096)
    return parse_ns_answer(reply, query_id)


def parse_ns_answer(reply: bytes, query_id: int) -> list[str]:
    """The NS names in a DNS reply's answer section; [] for NXDOMAIN or no answer."""
    if len(reply) < 12:
        raise OSError("a truncated DNS reply")
    ident, flags, questions, answers = struct.unpack(">HHHH", reply[:8])
    if ident != query_id:
        raise OSError("a DNS reply to another query")
    rcode = flags & 0x000F
    if rcode == 3:  # NXDOMAIN
        return []
    if rcode != 0:
        raise OSError(f"the resolver answered with error code {rcode}")
    offset = 12
    for _ in range(questions):
        _, offset = read_name(reply, offset)
        offset += 4
    names = []
    for _ in range(answers):
        _, offset = read_name(reply, offset)
        record_type, _, _, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if record_type == _TYPE_NS:
            names.append(read_name(reply, offset)[0])
        offset += length
    return names


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) domain name at `offset`: (name, offset after it)."""
    labels: list[str] = []
    end = None
    for _ in range(128):  # bounded: a malicious pointer loop ends here
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (end if end is not None else offset + 1)
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise OSError("a DNS name that never ends")
