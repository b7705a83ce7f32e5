# briefing-worker: the arq worker that precomputes home briefings with the LLM,
# keeps the jobs ledger and reaps overdue jobs. Its image also has the
# `pacer-jobs` CLI (docker compose exec briefing-worker pacer-jobs stuck).
# Build from the repository root: docker build -f deploy/briefing-worker.Dockerfile .
# (Compose does: deploy/docker-compose.prod.yml.)

# The builder and the runtime use the SAME base image: the virtual environment's
# `python` is a symlink to the base image's python3.11, which must exist at run
# time. Production builds from the official image below; where no registry can
# be reached, `make containers-up` passes an equivalent one built from Debian's
# packages (--build-arg PYTHON_IMAGE=..., deploy/README.md).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
FROM ${PYTHON_IMAGE} AS builder
# A build behind a TLS-intercepting proxy passes that proxy's CA bundle as the
# build secret `build_ca` (--secret id=build_ca,src=...): mounted only for the
# steps that reach PyPI, never stored in a layer. Without it, nothing changes.
# The uv version the Makefile pins, from the same registry.
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi; \
    pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
# 1. Third-party dependencies only, from the lockfile: this layer is rebuilt
#    only when uv.lock or a pyproject.toml changes. uv reads every workspace
#    member's pyproject.toml to check the lock, so all of them are copied.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/core-api/pyproject.toml services/core-api/
COPY services/coach/pyproject.toml services/coach/
COPY services/llm-sim/pyproject.toml services/llm-sim/
COPY services/briefing-worker/pyproject.toml services/briefing-worker/
COPY tools/devstack/pyproject.toml tools/devstack/
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export SSL_CERT_FILE=/run/secrets/build_ca; fi; \
    uv sync --locked --no-dev --no-install-workspace --package pacer-briefing-worker
# 2. This service and the shared library, installed as wheels (not editable):
#    the runtime image needs no source tree.
COPY libs/common/src libs/common/src
COPY services/briefing-worker/src services/briefing-worker/src
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export SSL_CERT_FILE=/run/secrets/build_ca; fi; \
    uv sync --locked --no-dev --no-editable --package pacer-briefing-worker

FROM ${PYTHON_IMAGE} AS runtime
# A fixed uid/gid so that secret files on the host can be made readable to it
# (chgrp 10001) without being world-readable.
RUN groupadd --system --gid 10001 pacer \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin pacer
# Owned by root: the service cannot modify its own code.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    BRIEFING_WORKER_HOST=0.0.0.0 \
    BRIEFING_WORKER_PORT=9103
WORKDIR /app
USER 10001:10001
EXPOSE 9103
# Liveness of the worker process: one port serves /health and /metrics.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('BRIEFING_WORKER_PORT', '9103'), timeout=2)"]
CMD ["python", "-m", "pacer_briefing_worker"]
