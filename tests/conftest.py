"""Fixtures for the whole suite live in tests/fixtures/, one module per concern."""

pytest_plugins = [
    "fixtures.infra",
    "fixtures.llm_sim",
    "fixtures.llm_client",
    "fixtures.core_api",
    "fixtures.coach",
    "fixtures.coach_process",
    "fixtures.coach_sessions",
    "fixtures.worker",
    "fixtures.stack",
]
