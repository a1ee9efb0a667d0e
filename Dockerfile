# syntax=docker/dockerfile:1.7
# The threetier web app as a container (seeds 002/004): Django behind gunicorn on $PORT.
# Built by the CDK CLI at deploy time (threetier.aws.constructs.containers); locally:
#   docker build -t threetier . && docker run -p 8000:8000 --env-file app.env threetier

FROM python:3.11-slim AS build
WORKDIR /build
# Build a wheel of this package and of every pinned dependency (pyproject.toml), so the
# final stage installs offline and carries no compiler or pip cache.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ARG THREETIER_REVISION=unversioned
LABEL org.opencontainers.image.title="threetier web app" \
      org.opencontainers.image.revision="${THREETIER_REVISION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    DJANGO_SETTINGS_MODULE=threetier.webapp.settings.production \
    THREETIER_STATIC_ROOT=/srv/threetier/static \
    THREETIER_MEDIA_ROOT=/srv/threetier/media \
    THREETIER_REVISION=${THREETIER_REVISION} \
    GUNICORN_CMD_ARGS="--workers 3 --access-logfile - --error-logfile - --forwarded-allow-ips=*"

# The same uid/gid the web servers' app user and the EFS access point use (aws/user_data.py: APP_UID).
RUN groupadd --system --gid 10001 threetier \
 && useradd --system --uid 10001 --gid 10001 --home-dir /srv/threetier --shell /usr/sbin/nologin threetier \
 && mkdir -p /srv/threetier/static /srv/threetier/media \
 && chown -R threetier:threetier /srv/threetier

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels threetier

# Entrypoint: each task names itself and its AZ from the ECS task metadata endpoint (the EC2
# web servers read IMDS instead), collects static files, then runs the command.
COPY --chmod=755 <<'PY' /usr/local/bin/threetier-entrypoint
#!/usr/local/bin/python
import json, os, subprocess, sys, urllib.request

metadata = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
if metadata and not os.environ.get("THREETIER_INSTANCE_NAME"):
    try:
        with urllib.request.urlopen(metadata + "/task", timeout=2) as response:
            task = json.load(response)
        os.environ["THREETIER_INSTANCE_NAME"] = task["TaskARN"].rsplit("/", 1)[-1]
        os.environ["THREETIER_AZ"] = task.get("AvailabilityZone", "")
    except (OSError, ValueError, KeyError) as exc:
        print(f"threetier-entrypoint: no task metadata ({exc})", file=sys.stderr)
if sys.argv[1:2] == ["gunicorn"]:
    subprocess.run([sys.executable, "-m", "threetier.webapp", "collectstatic", "--noinput"], check=True)
os.execvp(sys.argv[1], sys.argv[1:])
PY

USER 10001:10001
WORKDIR /srv/threetier
EXPOSE 8000
# No curl in a slim image: Python's urllib is enough for a health probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/usr/local/bin/threetier-entrypoint"]
# gunicorn binds 0.0.0.0:$PORT when PORT is set; GUNICORN_CMD_ARGS holds the rest.
CMD ["gunicorn", "threetier.webapp.wsgi:application"]
