# syntax=docker/dockerfile:1.7
# The threetier web app as a container (seeds 002/004): Django behind gunicorn on $PORT,
# with the runtime dependencies only.
# Built by the CDK CLI at deploy time (threetier.aws.constructs.containers); locally:
#   docker build -t threetier . && docker run -p 8000:8000 --env-file app.env threetier

FROM python:3.11-slim AS build
WORKDIR /build
# The runtime dependencies only (requirements/runtime.txt: hash-locked, no tool package),
# as wheels, plus a wheel of this package without its dependencies (pyproject.toml also
# lists the tool's); the final stage installs offline and carries no compiler or cache.
COPY requirements/runtime.txt ./requirements.txt
RUN pip download --no-cache-dir --require-hashes --only-binary=:all: --no-deps \
        --requirement requirements.txt --dest /wheels \
 && cp requirements.txt /wheels/requirements.txt
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels/app .

FROM python:3.11-slim
ARG THREETIER_REVISION=unversioned
LABEL org.opencontainers.image.title="threetier web app" \
      org.opencontainers.image.revision="${THREETIER_REVISION}"
# The task definition sets the whole environment and the gunicorn command from
# threetier.runtime.contract; these defaults make `docker run` work on its own.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    DJANGO_SETTINGS_MODULE=threetier.webapp.settings.production \
    THREETIER_STATIC_ROOT=/srv/threetier/static \
    THREETIER_MEDIA_ROOT=/srv/threetier/media \
    THREETIER_REVISION=${THREETIER_REVISION}

# The same uid/gid the web servers' app user and the EFS access point use (aws/boot.py: APP_UID).
RUN groupadd --system --gid 10001 threetier \
 && useradd --system --uid 10001 --gid 10001 --home-dir /srv/threetier --shell /usr/sbin/nologin threetier \
 && mkdir -p /srv/threetier/static /srv/threetier/media \
 && chown -R threetier:threetier /srv/threetier

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --require-hashes --find-links=/wheels \
        --requirement /wheels/requirements.txt \
 && pip install --no-cache-dir --no-index --no-deps /wheels/app/threetier-*.whl

# Entrypoint (threetier.runtime): each task names itself and its AZ from the ECS task
# metadata endpoint (the EC2 web servers read IMDS instead), collects static files
# before gunicorn, then runs the command.
USER 10001:10001
WORKDIR /srv/threetier
EXPOSE 8000
# No curl in a slim image: Python's urllib is enough for a health probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["python", "-m", "threetier.runtime", "entrypoint"]
# gunicorn as threetier.runtime.contract says, on 0.0.0.0:$PORT (the task definition gives the same command).
CMD ["python", "-m", "threetier.runtime", "serve"]
