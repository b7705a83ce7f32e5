"""Alert rules and the scrape config: promtool, and the metric names they rely on.

promtool comes from Debian's `prometheus` package, which `make test` installs
(tools/ensure-tools.sh) when it is missing; only the promtool tests skip (with
the reason printed) when it is not there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.model import DEPLOY, PACER_SERVICES, load_yaml, parse_dockerfile

ALERTS = DEPLOY / "alerts.yml"
ALERT_TESTS = DEPLOY / "alerts.test.yml"
SCRAPE_CONFIG = DEPLOY / "prometheus.yml"
RUNBOOK = DEPLOY / "RUNBOOK.md"

# The issue's list, by the names the rules use.
REQUIRED_ALERTS = {
    "HighErrorRate",
    "HighLatencyP95",
    "LLMSpendHigh",
    "JobStuck",
    "CoachOpenStreamsHigh",
    "ServiceDown",
}


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        reason = (
            "promtool is not on PATH: `make test` installs it (tools/ensure-tools.sh, "
            "Debian's prometheus package) when it runs as root with apt-get"
        )
        print(reason)
        pytest.skip(reason)
    return found


def _promtool(promtool: str, *args: str) -> None:
    result = subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_rules(promtool: str) -> None:
    _promtool(promtool, "check", "rules", ALERTS.name)


def test_promtool_checks_the_scrape_config(promtool: str) -> None:
    # Also checks the rule files it names (alerts.yml, beside it).
    _promtool(promtool, "check", "config", SCRAPE_CONFIG.name)


def test_promtool_unit_tests_of_the_alerts_pass(promtool: str) -> None:
    _promtool(promtool, "test", "rules", ALERT_TESTS.name)


def _rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_every_alert_the_issue_asks_for_exists() -> None:
    names = {rule["alert"] for rule in _rules()}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    headings = {
        _anchor(line.lstrip("#").strip())
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        link = rule["annotations"]["runbook"]
        assert link == f"RUNBOOK.md#{rule['alert'].lower()}", link
        assert link.split("#")[1] in headings, f"RUNBOOK.md has no section {rule['alert']}"


def test_every_alert_has_a_unit_test_or_is_listed_as_untested() -> None:
    tested = {
        case["alertname"]
        for test in load_yaml(ALERT_TESTS)["tests"]
        for case in test["alert_rule_test"]
    }
    # The issue asks for at least the stuck-job and service-down alerts.
    assert {"JobStuck", "ServiceDown", "ServiceMissing"} <= tested


def _metric_names(expression: str) -> set[str]:
    # Metric names are the identifiers followed by a selector or a range.
    return set(re.findall(r"([a-z_][a-z0-9_]*)\s*(?:\{|\[)", expression))


def test_the_metrics_the_rules_use_are_exported() -> None:
    from pacer_briefing_worker.metrics import JOBS_LONG_RUNNING, JOBS_STUCK
    from pacer_coach.metrics import OPEN_STREAMS, STREAMS_FINISHED, TOOL_CALLS, TOOL_TIMEOUTS
    from pacer_common.llm.metrics import LLM_COST_USD, LLM_TIME_TO_FIRST_TOKEN
    from pacer_common.metrics import (
        EVENT_LOOP_LAG,
        HTTP_REQUEST_DURATION,
        HTTP_REQUESTS,
        REQUESTS_SHED,
    )

    # prometheus_client drops a counter's _total and adds _bucket to histograms.
    exported: dict[str, tuple[str, ...]] = {
        "up": (),
        "http_requests_total": tuple(HTTP_REQUESTS._labelnames),
        "http_request_duration_seconds_bucket": tuple(HTTP_REQUEST_DURATION._labelnames),
        "event_loop_lag_seconds": tuple(EVENT_LOOP_LAG._labelnames),
        "requests_shed_total": tuple(REQUESTS_SHED._labelnames),
        "llm_cost_usd_total": tuple(LLM_COST_USD._labelnames),
        "llm_time_to_first_token_seconds_bucket": tuple(LLM_TIME_TO_FIRST_TOKEN._labelnames),
        "coach_open_streams": tuple(OPEN_STREAMS._labelnames),
        "coach_streams_total": tuple(STREAMS_FINISHED._labelnames),
        "coach_tool_calls_total": tuple(TOOL_CALLS._labelnames),
        "coach_tool_timeouts_total": tuple(TOOL_TIMEOUTS._labelnames),
        "jobs_stuck": tuple(JOBS_STUCK._labelnames),
        "jobs_long_running": tuple(JOBS_LONG_RUNNING._labelnames),
    }
    assert HTTP_REQUESTS._name == "http_requests" and LLM_COST_USD._name == "llm_cost_usd"
    assert REQUESTS_SHED._name == "requests_shed"
    for metric in (OPEN_STREAMS, JOBS_STUCK, JOBS_LONG_RUNNING):
        assert metric._name in exported, metric._name
    # job and instance come from Prometheus, le from the histogram.
    given = {"job", "instance", "le"}
    for rule in _rules():
        expression = rule["expr"]
        for name in _metric_names(expression):
            assert name in exported, f"{rule['alert']} uses {name}, which nothing exports"
        for label in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expression):
            users = [n for n in _metric_names(expression) if n in exported]
            known = given.union(*(exported[n] for n in users))
            assert label in known, f"{rule['alert']}: no metric it uses has label {label}"


def test_open_streams_alert_is_at_the_coachs_warning_level() -> None:
    from pacer_coach.settings import CoachSettings

    warn = CoachSettings.model_fields["SSE_WARN_CONNECTIONS"].default
    (rule,) = [rule for rule in _rules() if rule["alert"] == "CoachOpenStreamsHigh"]
    assert rule["expr"].strip() == f"coach_open_streams > {warn}"


def test_scrape_config_finds_every_replica_of_every_service() -> None:
    config = load_yaml(SCRAPE_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in PACER_SERVICES:
        (discovery,) = jobs[service]["dns_sd_configs"]
        # Type A on the Compose service name: one record per running replica.
        assert discovery["type"] == "A" and discovery["names"] == [service]
        # The metrics port is the one the image's environment sets.
        env = " ".join(
            i.arguments
            for i in parse_dockerfile(DEPLOY / f"{service}.Dockerfile")
            if i.keyword == "ENV"
        )
        ports = re.findall(r"(?:METRICS_PORT|BRIEFING_WORKER_PORT)=(\d+)", env)
        assert ports == [str(discovery["port"])], (service, ports)
    assert config["rule_files"] == [ALERTS.name]


def test_prometheus_in_compose_loads_these_files() -> None:
    compose = load_yaml(DEPLOY / "docker-compose.prod.yml")
    files = {config["file"] for config in compose["configs"].values()}
    assert {"./prometheus.yml", "./alerts.yml"} <= files
    targets = {c["target"] for c in compose["services"]["prometheus"]["configs"]}
    assert targets == {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"}
    assert Path(SCRAPE_CONFIG).exists() and ALERTS.exists()
