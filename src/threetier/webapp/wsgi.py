"""The WSGI callable for gunicorn: `threetier.webapp.wsgi:application`.

It does not migrate: `threetier up` / the boot script runs migrations once, before the
instances start, so workers never race each other over the schema.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "threetier.webapp.settings.production")

application = get_wsgi_application()
