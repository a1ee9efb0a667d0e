"""Django's PostgreSQL backend, with a health check that a failover cannot fool.

Persistent connections (CONN_MAX_AGE > 0) keep one connection per worker thread across
requests. Django's CONN_HEALTH_CHECKS runs `is_usable()` before a reused connection's
first query in each request, and after a request whose query failed; the stock check is
`SELECT 1`, which only proves the server is alive. After a failover the old primary may
be back, alive and read-only (restarted as a standby, or fenced with
default_transaction_read_only): a connection to it would pass `SELECT 1` and send every
write to a node that refuses it, or — worse, in a split brain — accepts it.

So the check asks what `target_session_attrs=read-write` asked when the connection was
opened, in the same single round trip: is this node out of recovery and accepting
writes? If not, Django closes the connection and the next query opens a new one, which
libpq's multi-host connection string sends to the node that is primary now. A write
that fails mid-request on a node turned read-only (SQLSTATE 25006) marks the connection
as having had an error, and Django runs the same check when the request ends.
"""

from __future__ import annotations

from django.db.backends.postgresql.base import Database
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper

# One round trip, the same as Django's SELECT 1.
WRITABLE_PRIMARY_SQL = "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"


class DatabaseWrapper(PostgresDatabaseWrapper):
    def is_usable(self) -> bool:
        """True while the connection is alive *and* its node takes writes."""
        if self.connection is None:
            return False
        try:
            # A psycopg cursor directly, as Django's own check: no Django error wrapping.
            with self.connection.cursor() as cursor:
                cursor.execute(WRITABLE_PRIMARY_SQL)
                row = cursor.fetchone()
        except Database.Error:
            return False
        return bool(row and row[0])
