"""Each service's Dockerfile, read as text: no image is built here (no engine).

Each installs only its own service from uv.lock, runs as a non-root user, has a
health check, and builds from a context that cannot carry secrets.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from deploy.model import (
    DEPLOY,
    PACER_SERVICES,
    REPO_ROOT,
    Instruction,
    dockerfile_path,
    load_yaml,
    parse_dockerfile,
    shell_words,
    stages,
)

MEMBERS: list[str] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["uv"][
    "workspace"
]["members"]
MAKEFILE_UV = re.search(
    r"^UV_VERSION\s*:=\s*(\S+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE
)
PROD = load_yaml(DEPLOY / "docker-compose.prod.yml")
# What the image runs, and the port its /health is on.
MODULES = {
    "core-api": "pacer_core_api",
    "coach": "pacer_coach",
    "briefing-worker": "pacer_briefing_worker",
}
HEALTH_PORTS = {"core-api": "8001", "coach": "8002", "briefing-worker": "9103"}


def _runs(instructions: list[Instruction]) -> list[list[str]]:
    return [shell_words(i.arguments) for i in instructions if i.keyword == "RUN"]


def _uv_syncs(instructions: list[Instruction]) -> list[list[str]]:
    syncs = []
    for words in _runs(instructions):
        if "uv" in words and "sync" in words:
            syncs.append(words[words.index("uv") :])
    return syncs


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_every_uv_sync_installs_only_this_service_from_the_lockfile(service: str) -> None:
    syncs = _uv_syncs(parse_dockerfile(dockerfile_path(service)))
    assert len(syncs) == 2, "a cached dependencies layer, then the service itself"
    for words in syncs:
        packages = [words[i + 1] for i, word in enumerate(words) if word == "--package"]
        assert packages == [f"pacer-{service}"], words
        assert "--locked" in words, "the lockfile must match pyproject.toml, or fail"
        assert "--no-dev" in words
        for widening in ("--all-packages", "--all-extras", "--extra", "--group", "--dev"):
            assert widening not in words, f"{widening} installs more than the service"
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[1], "the runtime image has no source tree"


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_only_this_services_source_is_copied(service: str) -> None:
    copies = [
        shell_words(i.arguments)
        for i in parse_dockerfile(dockerfile_path(service))
        if i.keyword == "COPY" and not i.arguments.startswith("--from")
    ]
    sources = {source for words in copies for source in words[:-1]}
    sources_dirs = {source for source in sources if source.endswith("/src")}
    assert sources_dirs == {"libs/common/src", f"services/{service}/src"}
    # uv checks the lock against every member, so every member's pyproject.toml
    # must be there (a new member would otherwise break the build).
    for member in MEMBERS:
        assert f"{member}/pyproject.toml" in sources, f"{member}/pyproject.toml not copied"
    assert {"pyproject.toml", "uv.lock"} <= sources


def test_core_api_image_never_installs_an_llm_sdk() -> None:
    # Instructions only: the comments may say why there is no SDK.
    instructions = parse_dockerfile(dockerfile_path("core-api"))
    text = " ".join(f"{i.keyword} {i.arguments}" for i in instructions).lower()
    for word in ("[llm", "--extra", "--all-extras", "anthropic", "openai"):
        assert word not in text, f"core-api.Dockerfile installs {word!r}"
    # And its package does not ask for the llm extra of the shared library.
    project = tomllib.loads((REPO_ROOT / "services/core-api/pyproject.toml").read_text())
    for requirement in project["project"]["dependencies"]:
        assert "llm" not in requirement and "anthropic" not in requirement, requirement


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_builder_and_runtime_share_a_pinned_python_image(service: str) -> None:
    instructions = parse_dockerfile(dockerfile_path(service))
    built = stages(instructions)
    assert len(built) == 2, "multi-stage: builder and runtime"
    images = [stage[0].arguments.split()[0] for stage in built]
    # The venv's `python` is a symlink into the base image: the same image both sides.
    assert images[0] == images[1]
    # The image comes in by a build argument (make containers-up passes a local base
    # where no registry is reachable); its default, what production builds, is pinned.
    arguments = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            arguments[name] = default
    image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], images[0])
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), image
    assert MAKEFILE_UV is not None
    installs = " ".join(" ".join(words) for words in _runs(built[0]))
    assert f"uv=={MAKEFILE_UV.group(1)}" in installs, "uv is the Makefile's version"


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_runtime_runs_the_service_as_a_non_root_user_with_a_health_check(service: str) -> None:
    runtime = stages(parse_dockerfile(dockerfile_path(service)))[-1]
    users = [i.arguments for i in runtime if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, users
    checks = [i.arguments for i in runtime if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health" in checks[0] and HEALTH_PORTS[service] in checks[0]
    (command,) = [i.arguments for i in runtime if i.keyword == "CMD"]
    assert command == f'["python", "-m", "{MODULES[service]}"]'
    # The runtime listens on every interface: Caddy and Prometheus reach it
    # over the Compose network, never on the host.
    env = " ".join(i.arguments for i in runtime if i.keyword == "ENV")
    assert re.search(r"_HOST=0\.0\.0\.0", env)
    # The Compose file builds this very Dockerfile for the service.
    assert PROD["services"][service]["build"] == {
        "context": "..",
        "dockerfile": f"deploy/{service}.Dockerfile",
    }


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_build_context_is_an_allow_list(service: str) -> None:
    # BuildKit reads <Dockerfile>.dockerignore beside the Dockerfile before the
    # root's: with "*" first, .pacer/ keys, .venv/, .git/ and deploy secrets
    # never reach the builder.
    ignore = DEPLOY / f"{service}.Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in ignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    assert f"services/{service}/src" in allowed
    others = {f"services/{other}/src" for other in PACER_SERVICES if other != service}
    assert not allowed & others
    assert not any(p.startswith(("deploy", ".pacer", ".env", "!deploy")) for p in allowed)
