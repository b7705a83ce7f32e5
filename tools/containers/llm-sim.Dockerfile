# The LLM simulator as a container, for the local stack only (make
# containers-up): it stands in for the hosted providers, which production
# reaches over the Internet. Built like the services' images (deploy/*.Dockerfile).
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE} AS builder
RUN --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export PIP_CERT=/run/secrets/build_ca; fi; \
    pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/core-api/pyproject.toml services/core-api/
COPY services/coach/pyproject.toml services/coach/
COPY services/llm-sim/pyproject.toml services/llm-sim/
COPY services/briefing-worker/pyproject.toml services/briefing-worker/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY libs/common/src libs/common/src
COPY services/llm-sim/src services/llm-sim/src
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=build_ca \
    if [ -s /run/secrets/build_ca ]; then export SSL_CERT_FILE=/run/secrets/build_ca; fi; \
    uv sync --locked --no-dev --no-editable --package pacer-llm-sim

FROM ${PYTHON_IMAGE} AS runtime
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LLM_SIM_HOST=0.0.0.0 \
    LLM_SIM_PORT=8090
WORKDIR /app
USER 10001:10001
EXPOSE 8090
CMD ["python", "-m", "pacer_llm_sim"]
