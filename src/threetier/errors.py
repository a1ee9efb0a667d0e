"""The one error type library code raises; the CLI turns it into a message and an exit code."""

from __future__ import annotations


class ThreetierError(Exception):
    """A problem the user can fix: what went wrong, and how to fix it.

    >>> raise ThreetierError("port 8443 is in use", fix="stop the other program or set local.https_port")
    """

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.details = details or []

    def __str__(self) -> str:
        lines = [self.message, *(f"  - {d}" for d in self.details)]
        if self.fix:
            lines.append(f"fix: {self.fix}")
        return "\n".join(lines)
