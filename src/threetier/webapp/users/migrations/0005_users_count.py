"""The registry's size, kept by the database: `users_count` (one row) and triggers on
`users` that add what each INSERT (or COPY) statement inserted, subtract what each DELETE
removed and set 0 on TRUNCATE.

Why: every list page and API page shows the total (Paginator's COUNT(*)), and PostgreSQL
counts by reading every entry of the primary key: ~20 ms of CPU per request at 100,000
users (benchmarks/user_scale.py), most of the list's cost there. Reading one row is
constant. `UserQuerySet.count` reads it for the unfiltered registry only; searches still
count their (index-served) matches.

Statement-level triggers with transition tables: one UPDATE per statement, not per row,
so a bulk load pays once. Each writing transaction holds the counter row until it commits
(sign-ups are few and throttled; the row is never held across a request). The counter is
in the same transaction as the rows, so a rollback undoes both; the standby gets it by
replication like any table.
"""

from django.db import migrations

FORWARD = """
-- No write may slip between the count and the triggers (the migration is one transaction).
LOCK TABLE users IN SHARE MODE;
CREATE TABLE users_count (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    n bigint NOT NULL CHECK (n >= 0)
);
INSERT INTO users_count (n) SELECT count(*) FROM users;

CREATE FUNCTION users_count_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE users_count SET n = 0;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE users_count SET n = n + (SELECT count(*) FROM changed);
    ELSE
        UPDATE users_count SET n = n - (SELECT count(*) FROM changed);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION users_count_follow();
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION users_count_follow();
CREATE TRIGGER users_count_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_count_follow();
"""

BACKWARD = """
DROP TRIGGER users_count_truncate ON users;
DROP TRIGGER users_count_delete ON users;
DROP TRIGGER users_count_insert ON users;
DROP FUNCTION users_count_follow();
DROP TABLE users_count;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_throttle_windows"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
