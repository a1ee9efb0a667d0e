"""The application bundle a web server downloads at boot (seed 001, requirement 5).

Only what a server runs, staged as a directory that CDK zips into one S3 asset:

    src/threetier/...    the app (webapp, runtime) and the boot program with its few helpers
    requirements.txt     requirements/runtime.txt: the hash-locked runtime dependencies
    wheelhouse/*.whl     every wheel of that lock for the server's architecture (wheelhouse.py)

With a user's app ([app] source), also (the boot gives it a venv of its own):

    app/src/...          the app's code (its directory, without VCS, venvs and caches)
    app/requirements.txt its requirements resolved and hash-locked (wheelhouse.app_wheelhouse)
    app/wheelhouse/*.whl every wheel of that lock

No tool code or tool dependency (CDK, linters, load tests, moto, pytest, the twin's
PostgreSQL and Caddy): the boot installs the wheelhouse with `pip install --no-index
--no-compile --require-hashes`, so a scale-out needs no package index.

The staged directory is keyed by what is in it (build/bundle/<key>/, ignored by git):
an unchanged app and lock reuse it, and the asset hash stays the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from threetier.apps.identity import AppSource
from threetier.apps.release import app_files, copy_tree
from threetier.aws import wheelhouse
from threetier.paths import tool_checkout

# What a server imports, relative to src/ (the rehearsal proves it is enough).
MODULES = (
    "threetier/__init__.py",
    "threetier/errors.py",
    "threetier/dbroles.py",
    "threetier/runtime",
    # A user's app runs through these (stdlib only); the tool's side of threetier.apps stays behind.
    "threetier/apps/__init__.py",
    "threetier/apps/process.py",
    "threetier/apps/wsgi.py",
    "threetier/apps/health.py",
    "threetier/apps/probes.py",
    "threetier/apps/inspect.py",
    "threetier/webapp",
    "threetier/aws/__init__.py",
    "threetier/aws/api.py",
    "threetier/aws/boot.py",
)
SKIPPED = ("__pycache__", ".pyc", ".pyo")


def runtime_files(src: Path) -> list[Path]:
    """The files of MODULES under `src` (what a server or a user's image needs of threetier)."""
    return _files(src)


def _files(src: Path) -> list[Path]:
    found = []
    for entry in MODULES:
        path = src / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found += [p for p in candidates if not any(part.endswith(SKIPPED) for part in p.parts)]
    return found


def stage_bundle(architecture: str = "x86_64", *, root: Path | None = None, app: AppSource | None = None) -> Path:
    """The bundle's directory for `architecture` (with the user's `app`, if any), staged
    unless it already is."""
    root = root or tool_checkout()
    src = root / "src"
    house = wheelhouse.wheelhouse(architecture, root=root)
    lock = wheelhouse.lock_file(root)
    files = _files(src)
    digest = hashlib.sha256(f"{architecture}\n{wheelhouse.lock_hash(lock)}\n".encode())
    for path in files:
        digest.update(f"{path.relative_to(src)}\n".encode() + path.read_bytes())
    app_house = None
    if app is not None:
        app_house = wheelhouse.app_wheelhouse(app, architecture, root=root)
        digest.update((app_house / wheelhouse.APP_LOCK).read_bytes())
        source = app.checked_directory()
        for path in app_files(source):
            digest.update(f"app/{path.relative_to(source)}\n".encode() + path.read_bytes())
    target = root / "build" / "bundle" / digest.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    for path in files:
        copy = partial / "src" / path.relative_to(src)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    shutil.copy2(lock, partial / "requirements.txt")
    (partial / "wheelhouse").mkdir()
    for wheel in sorted(house.glob("*.whl")):
        os.link(wheel, partial / "wheelhouse" / wheel.name)  # the cache's files, not copies
    if app is not None and app_house is not None:
        copy_tree(app.checked_directory(), partial / "app" / "src")
        shutil.copy2(app_house / wheelhouse.APP_LOCK, partial / "app" / "requirements.txt")
        (partial / "app" / "wheelhouse").mkdir()
        for wheel in sorted(app_house.glob("*.whl")):
            os.link(wheel, partial / "app" / "wheelhouse" / wheel.name)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / ".complete").write_text("")
    return target


def app_bundle(scope: Construct, construct_id: str, *, architecture: str = "x86_64",
               root: Path | None = None, app: AppSource | None = None) -> s3_assets.Asset:
    """The staged bundle as an S3 asset (a zip; CDK uploads it at deploy time)."""
    return s3_assets.Asset(scope, construct_id, path=str(stage_bundle(architecture, root=root, app=app)),
                           exclude=[".complete"])


# --- the Fargate image of a user's app --------------------------------------------------------

CONTAINER_APP_DIR = "/srv/app"  # where the image keeps the app's code (THREETIER_APP_DIR)
RUNTIME_DIR = ".threetier-runtime"  # threetier's stdlib runtime in the build context (PYTHONPATH)
IMAGE_LOCK = "requirements.lock"

GENERATED_DOCKERFILE = """# syntax=docker/dockerfile:1.7
# Generated by threetier (threetier.aws.app_bundle) for an app without a Dockerfile of its
# own: the app's code, its hash-locked requirements (wheelhouse.app_wheelhouse) and threetier's
# stdlib runtime (the contract, the WSGI wrapper with /healthz and /readyz, the entrypoint),
# built as the bundled registry's image is (the repository's Dockerfile).
FROM python:{python}-slim AS build
WORKDIR /build
COPY {lock} ./requirements.txt
RUN pip download --no-cache-dir --require-hashes --only-binary=:all: --no-deps \\
        --requirement requirements.txt --dest /wheels \\
 && cp requirements.txt /wheels/requirements.txt

FROM python:{python}-slim
ARG THREETIER_REVISION=unversioned
LABEL org.opencontainers.image.title="threetier: your app" \\
      org.opencontainers.image.revision="${{THREETIER_REVISION}}"
# The task definition sets the whole environment from threetier.runtime.contract.
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PORT=8000 \\
    PYTHONPATH=/opt/threetier-runtime \\
    THREETIER_APP_DIR={app_dir} \\
    THREETIER_STATIC_ROOT=/srv/threetier/static \\
    THREETIER_MEDIA_ROOT=/srv/threetier/media \\
    THREETIER_REVISION=${{THREETIER_REVISION}}
RUN groupadd --system --gid {gid} threetier \\
 && useradd --system --uid {uid} --gid {gid} --home-dir /srv/threetier --shell /usr/sbin/nologin threetier \\
 && mkdir -p /srv/threetier/static /srv/threetier/media \\
 && chown -R threetier:threetier /srv/threetier
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \\
    pip install --no-cache-dir --no-index --require-hashes --find-links=/wheels \\
        --requirement /wheels/requirements.txt
COPY {runtime} /opt/threetier-runtime
# The app's code belongs to root: the app user reads it, never changes it (as on EC2).
COPY app {app_dir}
USER {uid}:{gid}
WORKDIR /srv/threetier
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
  CMD ["python", "-c", \\
       "import os,urllib.request as r;r.urlopen('http://127.0.0.1:%s/healthz'%os.environ.get('PORT','8000'),timeout=4)"]
ENTRYPOINT ["python", "-m", "threetier.runtime", "entrypoint"]
CMD ["python", "-m", "threetier.runtime", "serve"]
"""


def dockerfile_text(app: AppSource, *, uid: int, gid: int) -> str:
    return GENERATED_DOCKERFILE.format(python=app.python, lock=IMAGE_LOCK, app_dir=CONTAINER_APP_DIR,
                                       runtime=RUNTIME_DIR, uid=uid, gid=gid)


def stage_image_context(app: AppSource, *, uid: int, gid: int, root: Path | None = None) -> tuple[Path, bool]:
    """The Docker build context of a user's app for Fargate, staged under build/image/<key>/:
    with the app's own Dockerfile, the app's files at the top (the Dockerfile as it is) and
    threetier's runtime in .threetier-runtime/ for it to copy; without one, a generated
    Dockerfile, the app in app/, the runtime and the app's hash-locked requirements.
    Returns (context, own Dockerfile?)."""
    root = root or tool_checkout()
    source = app.checked_directory()
    own = (source / "Dockerfile").is_file()
    src = root / "src"
    runtime = runtime_files(src)
    lock = (wheelhouse.app_wheelhouse(app, "x86_64", root=root) / wheelhouse.APP_LOCK).read_bytes()
    digest = hashlib.sha256(lock + dockerfile_text(app, uid=uid, gid=gid).encode())
    for prefix, base, files in (("app", source, app_files(source)), ("runtime", src, runtime)):
        for path in files:
            digest.update(f"{prefix}/{path.relative_to(base)}\n".encode() + path.read_bytes())
    target = root / "build" / "image" / digest.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target, own
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    copy_tree(source, partial if own else partial / "app")
    for path in runtime:
        copy = partial / RUNTIME_DIR / path.relative_to(src)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    (partial / RUNTIME_DIR / IMAGE_LOCK).write_bytes(lock)
    if not own:
        (partial / IMAGE_LOCK).write_bytes(lock)
        (partial / "Dockerfile").write_text(dockerfile_text(app, uid=uid, gid=gid))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    (target / ".complete").write_text("")
    return target, own
