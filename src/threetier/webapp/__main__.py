"""`python -m threetier.webapp <django command>`: Django's manage.py for this app.

DJANGO_SETTINGS_MODULE defaults to the production settings. A broken environment
(e.g. no THREETIER_SECRET_KEY) stops here with one line naming the variable.

    python -m threetier.webapp migrate --noinput
    python -m threetier.webapp collectstatic --noinput
"""

from __future__ import annotations

import os
import sys

DEFAULT_SETTINGS = "threetier.webapp.settings.production"


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    # Django reads DJANGO_SETTINGS_MODULE when it is imported: only after the default is set.
    from django.conf import settings  # noqa: PLC0415
    from django.core.management import execute_from_command_line  # noqa: PLC0415

    from threetier.webapp.settings.env import SettingsError  # noqa: PLC0415

    try:
        settings.INSTALLED_APPS  # noqa: B018 - loads the settings module, which checks the environment
    except SettingsError as error:
        print(f"threetier.webapp: {error}", file=sys.stderr)
        return 1
    execute_from_command_line(
        ["python -m threetier.webapp", *(sys.argv[1:] if argv is None else argv)]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
