"""Images for the local stack, each tagged by the hash of what it is built from.

Bases: no registry is reachable here, so the official images the Compose file
pins (python, postgres, redis, caddy) have local stand-ins built from Debian's
packages: debootstrap makes a minimal rootfs per suite, `docker import` turns it
into an image, and a small Dockerfile per base (tools/containers/bases/) adds
the packages. They are tagged ``pacer-local/<name>:<hash>``, never under an
official image's name. Service images are ``pacer/<service>:<hash>``, built from
deploy/*.Dockerfile with the local python base as a build argument.

A tag is the hash of everything its image is built from (the recipe, the files
its build context lets in, the tag of its base), so an image that exists is
never built again: a second `make containers-up` with nothing changed builds
nothing. The Debian packages themselves are not hashed: a base is rebuilt when
its recipe changes, not when Debian publishes an update.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pacer_devstack.config import REPO_ROOT
from pacer_devstack.containers.engine import DOCKER, docker, image_exists

BASES_DIR = REPO_ROOT / "tools" / "containers" / "bases"
DEPLOY = REPO_ROOT / "deploy"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Where the host keeps the CA bundle its TLS goes through; a build gets it as
# the secret `build_ca` (never a layer) so that pip and uv reach PyPI.
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
# Bump to rebuild every base (a change in how the rootfs is made).
ROOTFS_RECIPE = "minbase-1"


@dataclass(frozen=True)
class Base:
    """A local stand-in for an official image: a Dockerfile on a Debian suite's rootfs."""

    name: str  # pacer-local/<name>
    suite: str  # bookworm or sid
    official: str  # the image production pins instead (for the README and the logs)


BASES = (
    Base("python", "bookworm", "python:3.11.14-slim-bookworm"),
    Base("postgres", "sid", "postgres:18.6-bookworm"),
    Base("redis", "sid", "redis:8.2.2-bookworm"),
    Base("caddy", "sid", "caddy:2.11.7-alpine"),
)


@dataclass(frozen=True)
class ServiceImage:
    """One image built from the repository root with its own .dockerignore allow-list."""

    name: str  # pacer/<name>
    dockerfile: Path


SERVICE_IMAGES = (
    ServiceImage("core-api", DEPLOY / "core-api.Dockerfile"),
    ServiceImage("coach", DEPLOY / "coach.Dockerfile"),
    ServiceImage("briefing-worker", DEPLOY / "briefing-worker.Dockerfile"),
    ServiceImage("llm-sim", REPO_ROOT / "tools" / "containers" / "llm-sim.Dockerfile"),
)


@dataclass(frozen=True)
class Images:
    """Every image tag the local stack runs, by role."""

    python: str
    postgres: str
    redis: str
    caddy: str
    pacer_tag: str  # the Pacer images' tag (pacer/<service>:<tag>)
    services: dict[str, str]


def _digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()[:16]


def _log(message: str) -> None:
    print(f"containers: {message}", flush=True)


def _debian_image(suite: str) -> str:
    """``pacer-local/debian:<suite>-<hash>``: a minbase rootfs of one suite, imported."""
    tag = f"pacer-local/debian:{suite}-{_digest(suite.encode(), DEBIAN_MIRROR.encode(), ROOTFS_RECIPE.encode())}"
    if image_exists(tag):
        return tag
    _log(f"debootstrap {suite} (about a minute, once)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pacer-rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(rootfs), DEBIAN_MIRROR],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # As Docker's own Debian images: no service starts inside a build, no
        # recommends, and (sid) a snapshot mirror's expired Release still reads.
        (rootfs / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
        (rootfs / "usr/sbin/policy-rc.d").chmod(0o755)
        (rootfs / "etc/apt/apt.conf.d/90pacer-local").write_text(
            'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n'
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        with subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        ) as tar:
            subprocess.run(
                [str(DOCKER), "import", "-c", 'CMD ["bash"]', "-", tag],
                stdin=tar.stdout,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        if tar.returncode != 0:
            raise RuntimeError(f"tar of the {suite} rootfs failed")
        shutil.rmtree(rootfs, ignore_errors=True)
    _log(f"{tag} in {time.monotonic() - started:.0f} s")
    return tag


def _build(tag: str, dockerfile: Path, context: Path, build_args: dict[str, str]) -> None:
    started = time.monotonic()
    args = ["build", "--network", "host", "-f", str(dockerfile), "-t", tag]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if HOST_CA_BUNDLE.is_file():
        args += ["--secret", f"id=build_ca,src={HOST_CA_BUNDLE}"]
    environment = {**os.environ, "DOCKER_BUILDKIT": "1"}
    result = subprocess.run(
        [str(DOCKER), *args, str(context)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{result.stdout[-4000:]}")
    _log(f"built {tag} in {time.monotonic() - started:.0f} s")


def ensure_base(base: Base) -> str:
    debian = _debian_image(base.suite)
    recipe = BASES_DIR / f"{base.name}.Dockerfile"
    extra = sorted(BASES_DIR.glob(f"{base.name}-*"))
    tag = f"pacer-local/{base.name}:{_digest(debian.encode(), recipe.read_bytes(), *(p.read_bytes() for p in extra))}"
    if not image_exists(tag):
        _build(tag, recipe, BASES_DIR, {"DEBIAN_IMAGE": debian})
    return tag


def _context_files(dockerignore: Path) -> list[Path]:
    """The files an allow-list .dockerignore lets into the repository-root context."""
    patterns = [
        line.strip()
        for line in dockerignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files: list[Path] = []
    for pattern in patterns:
        if not pattern.startswith("!"):
            continue
        for match in sorted(REPO_ROOT.glob(pattern[1:])):
            candidates = [match] if match.is_file() else sorted(match.rglob("*"))
            files += [
                path
                for path in candidates
                if path.is_file()
                and "__pycache__" not in path.parts
                and not fnmatch.fnmatch(path.name, "*.pyc")
            ]
    return files


def _service_tag(python: str) -> str:
    """One tag for every Pacer image, as in production (PACER_TAG): the hash of the base,
    each Dockerfile and every file each build context lets in. A change to one service
    rebuilds all four, the unchanged ones from Docker's layer cache in seconds."""
    parts = [python.encode()]
    for image in SERVICE_IMAGES:
        ignore = image.dockerfile.with_name(image.dockerfile.name + ".dockerignore")
        parts += [image.dockerfile.read_bytes(), ignore.read_bytes()]
        for path in _context_files(ignore):
            parts += [str(path.relative_to(REPO_ROOT)).encode(), path.read_bytes()]
    return f"local-{_digest(*parts)}"


def ensure_services(python: str) -> tuple[str, dict[str, str]]:
    """(PACER_TAG, image by service), building the images that are missing."""
    pacer_tag = _service_tag(python)
    tags = {}
    for image in SERVICE_IMAGES:
        tag = f"pacer/{image.name}:{pacer_tag}"
        if not image_exists(tag):
            _build(tag, image.dockerfile, REPO_ROOT, {"PYTHON_IMAGE": python})
        tags[image.name] = tag
    _prune_older(pacer_tag)
    return pacer_tag, tags


def _prune_older(pacer_tag: str) -> None:
    """Remove the Pacer images of earlier local builds (each source change makes a new
    tag), so the cache does not grow without end; one a container still uses stays."""
    for image in SERVICE_IMAGES:
        listed = docker(
            "images", "--format", "{{.Tag}}", "--filter", f"reference=pacer/{image.name}"
        )
        for tag in listed.split():
            if tag.startswith("local-") and tag != pacer_tag:
                docker("rmi", f"pacer/{image.name}:{tag}", check=False)


def ensure_images() -> Images:
    """Every image the local stack runs, built only when its tag is missing.

    Two chains at once, one per Debian suite (debootstrap and apt are mostly
    waiting on the mirror): bookworm's python base then the Pacer images, and
    sid's Postgres, Redis and Caddy bases.
    """

    def python_chain() -> tuple[str, str, dict[str, str]]:
        python = ensure_base(BASES[0])
        return (python, *ensure_services(python))

    def sid_chain() -> dict[str, str]:
        return {base.name: ensure_base(base) for base in BASES[1:]}

    with ThreadPoolExecutor(max_workers=2) as pool:
        pythons = pool.submit(python_chain)
        sid = pool.submit(sid_chain)
        python, pacer_tag, services = pythons.result()
        bases = sid.result()
    return Images(
        python=python,
        postgres=bases["postgres"],
        redis=bases["redis"],
        caddy=bases["caddy"],
        pacer_tag=pacer_tag,
        services=services,
    )
