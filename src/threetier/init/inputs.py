"""Each answer `threetier init` takes, checked on its own with the rule the spec applies
to the key it fills, so a bad value is refused by name before any file is composed."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from threetier import spec as model
from threetier.errors import ThreetierError

# An environment's name is its file's name and part of its stacks' names.
ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
# AWS accepts a VPC CIDR block from /16 to /28.
VPC_PREFIX_MIN, VPC_PREFIX_MAX = 16, 28


class BadInputError(ThreetierError):
    """An answer (a flag or a prompt) that cannot go into the file: a usage error."""

    exit_code = 2


def field_error(section: type[BaseModel], key: str, value: Any) -> str | None:
    """The spec's complaint about `value` as `key` of `section`, None when it accepts it."""
    try:
        section.model_validate({key: value})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if err["loc"] and err["loc"][0] == key:
                return err["msg"].removeprefix("Value error, ")
    return None


def spec_value(section: type[BaseModel], key: str, value: str, *, flag: str, what: str, fix: str) -> str:
    """`value` when the spec accepts it as `key` of `section`, else BadInputError for `flag`."""
    if field_error(section, key, value):
        raise BadInputError(f"{flag}: {value!r} is not {what}", fix=fix)
    return value


def env_name(text: str) -> str:
    name = text.strip()
    if not ENV_NAME.match(name):
        raise BadInputError(
            f"NAME: {name!r} cannot name an environment (it is the file parameters/NAME.toml "
            "and part of the stacks' names)",
            fix="use lower-case letters, digits and '-', starting with a letter (e.g. shop, shop-prod)",
        )
    return name


def project_name(text: str) -> str:
    return spec_value(
        model.Project, "name", text.strip(), flag="--project", what="a project name",
        fix="use 2-31 lower-case letters, digits and '-', starting with a letter",
    )


def vpc_cidr(text: str) -> ipaddress.IPv4Network:
    raw = text.strip()
    try:
        network = ipaddress.IPv4Network(raw)
    except ValueError as exc:
        fix = "give an IPv4 network such as 10.20.0.0/16 (AWS accepts /16 to /28)"
        if "has host bits set" in str(exc):
            fix = f"use the network address: {ipaddress.IPv4Network(raw, strict=False)}"
        raise BadInputError(f"--vpc-cidr: {raw!r} is not an IPv4 network ({exc})", fix=fix) from None
    if not VPC_PREFIX_MIN <= network.prefixlen <= VPC_PREFIX_MAX:
        raise BadInputError(
            f"--vpc-cidr: {network} is a /{network.prefixlen}; a VPC's CIDR block is /16 to /28",
            fix="use a /16 (room for many subnets), e.g. 10.20.0.0/16",
        )
    if not network.is_private:
        raise BadInputError(
            f"--vpc-cidr: {network} is not a private range: addresses in it that belong to "
            "someone on the internet become unreachable from the VPC",
            fix="use a range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
        )
    return network


def instances(value: int | str, *, azs: int) -> int:
    try:
        count = int(value)
    except ValueError:
        raise BadInputError(f"--instances: {value!r} is not a number", fix="give a whole number, e.g. 2") from None
    limit = model.Web.model_fields["instances"].metadata
    low, high = azs, next(m.le for m in limit if hasattr(m, "le"))
    if not low <= count <= high:
        raise BadInputError(
            f"--instances: {count} web instances; with {azs} AZs it takes {low} to {high} "
            "(at least one per AZ, or the load balancer sends an AZ's share nowhere)",
            fix=f"give a number from {low} to {high}",
        )
    return count


def domain(text: str | None) -> str | None:
    name = (text or "").strip().lower().rstrip(".")
    if not name:
        return None
    return spec_value(
        model.Dns, "domain", name, flag="--domain", what="a domain name",
        fix="give the site's full name, e.g. www.example.com (or leave it out for plain HTTP)",
    )


def hosted_zone_id(text: str | None, *, domain_name: str | None) -> str | None:
    zone = (text or "").strip().upper().removeprefix("/HOSTEDZONE/")
    if not zone:
        if domain_name:
            raise BadInputError(
                f"--hosted-zone-id: {domain_name} needs the id of its Route 53 hosted zone (the "
                "certificate is validated there; without one synth and deploy stop)",
                fix="create the zone and delegate it at your registrar (docs/aws.md), then give its "
                "id, e.g. --hosted-zone-id Z0123456789ABCDEFGHIJ",
            )
        return None
    if not domain_name:
        raise BadInputError(
            "--hosted-zone-id: a hosted zone without --domain", fix="give --domain too, or leave both out"
        )
    return spec_value(
        model.Dns, "hosted_zone_id", zone, flag="--hosted-zone-id", what="a Route 53 hosted zone id",
        fix="copy it from Route 53 → Hosted zones: 'Z' and upper-case letters and digits",
    )


def alarm_email(text: str | None) -> str | None:
    address = (text or "").strip()
    if not address:
        return None
    return spec_value(
        model.Monitoring, "alarm_email", address, flag="--alarm-email", what="an e-mail address",
        fix="give the address that should get the alarms, e.g. ops@example.com",
    )


def runtime(text: str) -> str:
    choice = text.strip().lower()
    if choice not in ("ec2", "fargate"):
        raise BadInputError(
            f"--runtime: {text!r} is not a runtime",
            fix="use ec2 (an Auto Scaling group of instances) or fargate (ECS tasks)",
        )
    return choice


def wsgi_callable(text: str) -> str:
    return spec_value(
        model.App, "wsgi", text.strip(), flag="--wsgi", what="module:callable",
        fix="e.g. --wsgi mysite.wsgi:application",
    )


def settings_module(text: str) -> str:
    return spec_value(
        model.App, "settings", text.strip(), flag="--settings", what="a dotted module name",
        fix="e.g. --settings mysite.settings",
    )
