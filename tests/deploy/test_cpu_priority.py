"""CPU priority (issue 14): make run starts the LLM side at a lower priority, as Compose does,
and on two CPUs or more on one CPU of its own, as Compose pins it (issue 24).

Cheap: the supervisord config is rendered and parsed, no stack is started.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from deploy.model import LLM_SIDE, PROD_COMPOSE, SMALL_COMPOSE, load_compose, load_yaml
from pacer_devstack.config import StackConfig
from pacer_devstack.render import llm_side_cpus, render_supervisord_conf

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


def _launch(command: str) -> tuple[str | None, int, list[str]]:
    """(taskset's CPU list or None, the nice value, the program's own words)."""
    words = command.split()
    cpus = None
    if words[:2] == ["taskset", "-c"]:
        cpus, words = words[2], words[3:]
    niceness = 0
    if words[:2] == ["nice", "-n"]:
        niceness, words = int(words[2]), words[3:]
    return cpus, niceness, words


def _niceness(command: str) -> int:
    return _launch(command)[1]


def test_the_rendered_supervisord_config_starts_each_program_at_its_priority(
    tmp_path: Path,
) -> None:
    programs = _programs(tmp_path)
    assert {name: _niceness(programs[name]) for name in EXPECTED_NICENESS} == EXPECTED_NICENESS
    # `taskset` and `nice` exec the program: supervisord's pid is the service's, its
    # signals reach it.
    python = programs["core-api"].split()[0]
    assert _launch(programs["coach"])[2] == [python, "-m", "pacer_coach"]


def test_on_two_cpus_or_more_the_llm_side_runs_on_the_last_one_and_the_rest_anywhere(
    tmp_path: Path,
) -> None:
    programs = _programs(tmp_path)
    pinned = {name: _launch(command)[0] for name, command in programs.items()}
    expected = llm_side_cpus()
    assert {name: pinned[name] for name in ("coach", "briefing-worker", "llm-sim")} == {
        "coach": expected,
        "briefing-worker": expected,
        "llm-sim": expected,
    }
    for front in ("core-api", "caddy", "postgres", "valkey"):
        assert pinned[front] is None, front


def test_the_llm_sides_cpu_is_the_last_of_those_this_process_may_use() -> None:
    assert llm_side_cpus({0, 1}) == "1"
    assert llm_side_cpus({2, 5, 3}) == "5"
    # One CPU: nothing to keep apart, nothing pinned.
    assert llm_side_cpus({0}) is None


def test_compose_pins_the_llm_side_to_cpu_1_on_2_vcpus_and_to_the_one_cpu_on_1() -> None:
    """The latency path (Caddy, core-api, Postgres, Redis) runs anywhere; on 2 vCPUs the
    coach and the worker keep to CPU 1, so a busy relay never holds the CPU home's
    request wakes on. The 1 vCPU override must undo it: CPU 1 does not exist there."""
    prod = load_yaml(PROD_COMPOSE)["services"]
    small = load_compose(f"{PROD_COMPOSE.name}+{SMALL_COMPOSE.name}")["services"]
    for name in LLM_SIDE:
        assert prod[name]["cpuset"] == "1", name
        assert small[name]["cpuset"] == "0", name
    for name in ("caddy", "core-api", "postgres", "redis"):
        assert "cpuset" not in prod[name] and "cpuset" not in small[name], name


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
