"""The runbook's commands must work: every `docker compose` command names real
files, a real subcommand and real services, and every `make` target exists.
With Docker Compose on the machine each one is also checked by `compose config`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.model import (
    DEPLOY,
    PROD_COMPOSE,
    REPO_ROOT,
    compose_or_skip,
    load_yaml,
    stand_in_deploy,
)

RUNBOOK = DEPLOY / "RUNBOOK.md"
SUBCOMMANDS = {"build", "config", "exec", "logs", "ps", "restart", "stop", "up", "down", "pull"}
# Subcommand options that take a value (the value is not a service name).
VALUED = {"--since", "--tail", "-n", "--index", "--format", "--timeout", "-t", "--profile"}
SERVICES = set(load_yaml(PROD_COMPOSE)["services"])


@dataclass(frozen=True)
class ComposeCommand:
    text: str
    files: list[str]
    subcommand: str
    services: list[str]


def _compose_commands() -> list[ComposeCommand]:
    found = []
    for match in re.finditer(r"docker compose [^`\n]+", RUNBOOK.read_text()):
        text = match.group(0).split(" | ")[0].split("  #")[0].strip()
        words = shlex.split(text)[2:]
        files: list[str] = []
        while words[0] in {"-f", "--profile"}:
            if words[0] == "-f":
                files.append(words[1])
            words = words[2:]
        subcommand, rest = words[0], words[1:]
        services: list[str] = []
        skip = False
        for word in rest:
            if skip:
                skip = False
            elif word in VALUED:
                skip = True
            elif word.startswith("--scale="):
                services.append(word.split("=")[1])
            elif word == "--scale":
                continue
            elif re.fullmatch(r"[a-z-]+=\d+", word):
                services.append(word.split("=")[0])
            elif not word.startswith("-"):
                services.append(word)
                if subcommand == "exec":
                    break  # the rest is the command run inside
        found.append(ComposeCommand(text, files, subcommand, services))
    return found


COMMANDS = _compose_commands()


def test_the_runbook_has_compose_commands() -> None:
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.text[:80])
def test_compose_command_names_real_files_and_services(command: ComposeCommand) -> None:
    assert command.files and command.files[0] == "deploy/docker-compose.prod.yml"
    for name in command.files:
        assert (REPO_ROOT / name).is_file(), name
    assert command.subcommand in SUBCOMMANDS, command.subcommand
    for service in command.services:
        assert service in SERVICES, f"{service} is not a Compose service"


def test_make_targets_in_the_runbook_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.MULTILINE))
    used = set(re.findall(r"\bmake ([a-z-]+)", RUNBOOK.read_text()))
    assert used and used <= targets, used - targets


def test_compose_accepts_every_runbook_command(tmp_path: Path) -> None:
    compose = compose_or_skip("the runbook's commands through it")
    work = tmp_path / "repo"
    stand_in_deploy(work / "deploy")
    for command in COMMANDS:
        files = [argument for name in command.files for argument in ("-f", name)]
        # `config SERVICE...` fails on a service that does not exist.
        result = subprocess.run(
            [*compose, *files, "--profile", "monitoring", "config", "--quiet", *command.services],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{command.text}: {result.stderr}"
