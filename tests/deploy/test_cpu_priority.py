"""CPU priority (issue 14): make run starts the LLM side at a lower priority, as Compose does.

Cheap: the supervisord config is rendered and parsed, no stack is started.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from deploy.model import PROD_COMPOSE, load_yaml
from pacer_devstack.config import StackConfig
from pacer_devstack.render import render_supervisord_conf

# The kernel's CFS weight of each nice value (kernel/sched/core.c, sched_prio_to_weight).
NICE_WEIGHTS = (
    1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
    110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
)  # fmt: skip
EXPECTED_NICENESS = {
    "core-api": 0,
    "caddy": 0,
    "postgres": 0,
    "valkey": 0,
    "coach": 3,
    "briefing-worker": 6,
    "llm-sim": 19,
}


def _programs(tmp_path: Path) -> dict[str, str]:
    config = StackConfig.from_env({"PACER_DATA_DIR": str(tmp_path / "data")})
    rendered = render_supervisord_conf(config, tmp_path / "Caddyfile")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(rendered)
    return {
        section.removeprefix("program:"): parser[section]["command"]
        for section in parser.sections()
        if section.startswith("program:")
    }


def _niceness(command: str) -> int:
    words = command.split()
    if words[:2] == ["nice", "-n"]:
        return int(words[2])
    return 0


def test_the_rendered_supervisord_config_starts_each_program_at_its_priority(
    tmp_path: Path,
) -> None:
    programs = _programs(tmp_path)
    assert {name: _niceness(programs[name]) for name in EXPECTED_NICENESS} == EXPECTED_NICENESS
    # `nice` execs the program: supervisord's pid is the service's, its signals reach it.
    python = programs["core-api"].split()[0]
    assert programs["coach"].split()[3:] == [python, "-m", "pacer_coach"]


@pytest.mark.parametrize(
    ("program", "service"), [("coach", "coach"), ("briefing-worker", "briefing-worker")]
)
def test_the_dev_stacks_priorities_are_the_compose_files_cpu_shares(
    tmp_path: Path, program: str, service: str
) -> None:
    """nice 3 and 6 weigh (526, 272) what cpu_shares 512 and 256 do beside core-api's 1024."""
    services = load_yaml(PROD_COMPOSE)["services"]
    programs = _programs(tmp_path)
    dev_ratio = (
        NICE_WEIGHTS[_niceness(programs[program])] / NICE_WEIGHTS[_niceness(programs["core-api"])]
    )
    compose_ratio = services[service]["cpu_shares"] / services["core-api"]["cpu_shares"]
    assert dev_ratio == pytest.approx(compose_ratio, rel=0.1)
    for front in ("core-api", "caddy"):
        assert services[front]["cpu_shares"] == 1024 and _niceness(programs[front]) == 0
