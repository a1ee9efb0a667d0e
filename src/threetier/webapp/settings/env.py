"""Typed accessors for the environment variables the settings read.

Each accessor names the variable in its error, so a bad or missing value stops start-up
with one clear line instead of a stack of Django internals:

>>> os.environ["THREETIER_SECURE_COOKIES"] = "maybe"
>>> env_bool("THREETIER_SECURE_COOKIES", default=True)
Traceback (most recent call last):
SettingsError: THREETIER_SECURE_COOKIES='maybe' is not a boolean
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from threetier.errors import ThreetierError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ThreetierError, ImproperlyConfigured):
    """A missing or malformed environment variable.

    It is both the project's domain error (the CLI prints it as one line) and Django's
    ImproperlyConfigured (what Django expects a broken settings module to raise).
    """


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    """The variable's value, or `default`; with no default the variable is required."""
    value = _raw(name, environ)
    if value is not None:
        return value
    if default is None:
        raise SettingsError(f"{name} is not set", fix=f"set the environment variable {name}")
    return default


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A required secret, given directly (`NAME`) or as a file (`NAME_FILE`, as the
    instances' environment files name it): no default, and its value never appears in
    any message."""
    value = env_secret_or_file(name, environ=environ) or None
    if value is None:
        raise SettingsError(
            f"{name} is not set; the app refuses to start without it",
            fix=f"set {name} to a long random value (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')",
        )
    return value


def env_secret_or_file(name: str, *, environ: Mapping[str, str] | None = None) -> str:
    """A secret given directly (`NAME`) or as a file path (`NAME_FILE`, read, stripped)."""
    path = _raw(f"{name}_FILE", environ)
    if path is not None:
        try:
            return Path(path).read_text().strip()
        except OSError as error:
            raise SettingsError(
                f"{name}_FILE={path!r} cannot be read: {error.strerror}",
                fix=f"point {name}_FILE at a readable file, or set {name} instead",
            ) from None
    return _raw(name, environ) or ""


def env_bool(name: str, *, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case); unset means `default`."""
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean", fix=f"set {name} to true or false")


def env_int(
    name: str, *, default: int, minimum: int = 0, environ: Mapping[str, str] | None = None
) -> int:
    """A whole number not below `minimum`; unset means `default`."""
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(
            f"{name}={value!r} is not a whole number", fix=f"set {name} to e.g. {default}"
        ) from None
    if number < minimum:
        raise SettingsError(
            f"{name}={number} is below {minimum}", fix=f"set {name} to e.g. {default}"
        )
    return number


def env_list(
    name: str, default: list[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A comma-separated list (blanks dropped); unset means `default` (or [])."""
    value = _raw(name, environ)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str, choices: tuple[str, ...], *, default: str, environ: Mapping[str, str] | None = None
) -> str:
    """One of `choices` (case-insensitive); unset means `default`."""
    value = env_str(name, default, environ=environ).lower()
    if value not in choices:
        raise SettingsError(
            f"{name}={value!r} is not one of {', '.join(choices)}",
            fix=f"set {name} to {choices[0]}",
        )
    return value


RATE_PERIODS = ("second", "minute", "hour", "day")


def env_rate(name: str, *, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A throttle rate as DRF writes it, "N/period" (period: second, minute, hour, day)."""
    value = env_str(name, default, environ=environ)
    count, _, period = value.partition("/")
    if not (count.isdigit() and int(count) > 0 and period in RATE_PERIODS):
        raise SettingsError(
            f"{name}={value!r} is not a rate like {default!r}",
            fix=f"set {name} to a count and one of {', '.join(RATE_PERIODS)}, e.g. {default}",
        )
    return value
