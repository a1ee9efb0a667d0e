"""Two things `migrate` must do that no model describes:

- The shared cache table (throttle counters, see settings CACHES): created here, so a
  deployment runs `migrate` alone, as before.
- A database made before the registry users became the accounts has django_admin_log
  pointing at auth_user's integer ids; it is re-pointed at users(user_id) (the old
  accounts' log entries go: they name accounts that no longer sign in).
"""

from django.core.management import call_command
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def create_cache_table(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def point_admin_log_at_registry_users(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'django_admin_log' AND column_name = 'user_id'"
        )
        row = cursor.fetchone()
        if row is None or row[0] != "integer":
            return
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'django_admin_log'::regclass AND contype = 'f' "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'django_admin_log'::regclass "
            "AND attname = 'user_id')]::smallint[]"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE django_admin_log DROP CONSTRAINT "{name}"')
        cursor.execute("DELETE FROM django_admin_log")
        cursor.execute("ALTER TABLE django_admin_log ALTER COLUMN user_id TYPE varchar(10) USING user_id::text")
        cursor.execute(
            "ALTER TABLE django_admin_log ADD CONSTRAINT django_admin_log_user_id_users_fk "
            "FOREIGN KEY (user_id) REFERENCES users (user_id) DEFERRABLE INITIALLY DEFERRED"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_accounts"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
        migrations.RunPython(point_admin_log_at_registry_users, migrations.RunPython.noop),
    ]
