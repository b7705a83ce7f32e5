"""ENVIRONMENT=production refuses what only a development stack may use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pacer_common.settings import ServiceSettings

PRODUCTION_LIKE: dict[str, Any] = {
    "DATABASE_URL": "postgresql://pacer:s3cret@postgres:5432/pacer",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_ORIGINS": "https://pacer.example.com",
}

DEVELOPMENT_ONLY: dict[str, tuple[dict[str, Any], str]] = {
    "placeholder_password": (
        {"DATABASE_URL": "postgresql://pacer:CHANGE_ME_DB_PASSWORD@postgres:5432/pacer"},
        "CHANGE_ME placeholder",
    ),
    "no_password": (
        {"DATABASE_URL": "postgresql://pacer@127.0.0.1:5433/pacer"},
        "DATABASE_URL has no password",
    ),
    "local_origin": (
        {"ALLOWED_ORIGINS": "https://pacer.example.com,http://localhost:8080"},
        "development origins: http://localhost:8080",
    ),
}


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    path = tmp_path / "public.pem"
    path.write_text("only its existence is checked here\n")
    return path


def settings(public_key: Path, **values: Any) -> ServiceSettings:
    return ServiceSettings(JWT_PUBLIC_KEY_FILE=public_key, **{**PRODUCTION_LIKE, **values})


def test_production_accepts_production_values(public_key: Path) -> None:
    assert settings(public_key, ENVIRONMENT="production").ENVIRONMENT == "production"


@pytest.mark.parametrize("case", DEVELOPMENT_ONLY.values(), ids=DEVELOPMENT_ONLY.keys())
def test_production_refuses_development_values(
    public_key: Path, case: tuple[dict[str, Any], str]
) -> None:
    values, message = case
    with pytest.raises(ValidationError, match="ENVIRONMENT=production refuses") as refused:
        settings(public_key, ENVIRONMENT="production", **values)
    assert message in str(refused.value)


@pytest.mark.parametrize("environment", ["development", "test"])
@pytest.mark.parametrize("case", DEVELOPMENT_ONLY.values(), ids=DEVELOPMENT_ONLY.keys())
def test_development_and_test_accept_them(
    public_key: Path, environment: str, case: tuple[dict[str, Any], str]
) -> None:
    values, _ = case
    loaded = settings(public_key, ENVIRONMENT=environment, **values)
    assert environment == loaded.ENVIRONMENT
