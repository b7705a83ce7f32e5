"""LLMSettings, the model registry and Deadline: no network involved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from pacer_common.llm import MODEL_REGISTRY, Deadline, LLMClient, LLMSettings
from pacer_common.settings import format_settings_error

SIM_URL = "http://127.0.0.1:9"  # never contacted: these tests make no call


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine's environment says about LLMs must not leak into these cases."""
    for name in LLMSettings.model_fields:
        monkeypatch.delenv(name, raising=False)


def both_providers(**values: Any) -> LLMSettings:
    return LLMSettings(
        ANTHROPIC_BASE_URL=SIM_URL,
        OPENAI_BASE_URL=f"{SIM_URL}/v1",
        **values,
    )


def error_fields(error: ValidationError) -> dict[str, str]:
    return {".".join(map(str, item["loc"])): item["msg"] for item in error.errors()}


def test_defaults() -> None:
    settings = both_providers()

    assert settings.DEFAULT_MODEL == "CLAUDE_HAIKU"
    assert settings.LLM_FALLBACK_ORDER == ["CLAUDE_HAIKU", "GPT_MINI"]
    assert settings.LLM_SDK_MAX_RETRIES == 1
    assert settings.configured_providers() == ("anthropic", "openai")


@pytest.mark.parametrize(
    "field", ["DEFAULT_MODEL", "MODEL_FREE", "MODEL_PAID", "LLM_FALLBACK_ORDER"]
)
def test_unknown_model_code_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        both_providers(**{field: "CLAUDE_OPUS_9"})

    fields = error_fields(caught.value)
    assert list(fields) == [field]
    assert "unknown model code 'CLAUDE_OPUS_9'" in fields[field]
    assert "CLAUDE_HAIKU" in fields[field]  # the message lists what is known


def test_model_of_a_provider_without_key_or_url_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        LLMSettings(ANTHROPIC_API_KEY="sk-ant-test", DEFAULT_MODEL="GPT_MINI")

    fields = error_fields(caught.value)
    # The default fallback order names GPT_MINI too: refused as well, not silently dropped.
    assert set(fields) == {"DEFAULT_MODEL", "LLM_FALLBACK_ORDER"}
    assert "openai, which is not configured" in fields["DEFAULT_MODEL"]
    assert "OPENAI_API_KEY" in fields["DEFAULT_MODEL"]
    report = format_settings_error(LLMSettings, caught.value)
    assert "DEFAULT_MODEL:" in report
    assert "sk-ant-test" not in report


def test_one_provider_is_enough_when_nothing_names_the_other() -> None:
    settings = LLMSettings(ANTHROPIC_API_KEY="sk-ant-test", LLM_FALLBACK_ORDER="CLAUDE_HAIKU")

    assert settings.configured_providers() == ("anthropic",)
    assert settings.ANTHROPIC_API_KEY is not None
    assert "sk-ant-test" not in repr(settings)


def test_blank_key_means_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", SIM_URL)
    monkeypatch.setenv("OPENAI_API_KEY", "")
    # Empty means unset (as Compose's env_file passes `NAME=`): the default applies.
    monkeypatch.setenv("LLM_FALLBACK_ORDER", "")
    monkeypatch.setenv("MODEL_FREE", "")

    with pytest.raises(ValidationError, match="openai, which is not configured"):
        LLMSettings()  # the default fallback order names GPT_MINI
    settings = LLMSettings(LLM_FALLBACK_ORDER="CLAUDE_HAIKU")

    assert settings.OPENAI_API_KEY is None
    assert settings.MODEL_FREE is None
    with pytest.raises(ValidationError, match="openai, which is not configured"):
        LLMSettings(MODEL_PAID="GPT_4O")


def test_fallback_order_is_comma_separated_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", SIM_URL)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{SIM_URL}/v1")
    monkeypatch.setenv("LLM_FALLBACK_ORDER", " GPT_4O , CLAUDE_SONNET,")

    assert LLMSettings().LLM_FALLBACK_ORDER == ["GPT_4O", "CLAUDE_SONNET"]


async def test_tiers_map_to_their_models_or_the_default() -> None:
    tiered = LLMClient.from_settings(
        both_providers(MODEL_FREE="GPT_MINI", MODEL_PAID="CLAUDE_SONNET")
    )
    plain = LLMClient.from_settings(both_providers(DEFAULT_MODEL="GPT_4O"))
    try:
        assert tiered.model_for("free") == MODEL_REGISTRY["GPT_MINI"]
        assert tiered.model_for("paid") == MODEL_REGISTRY["CLAUDE_SONNET"]
        assert plain.model_for("free") == plain.model_for("paid") == MODEL_REGISTRY["GPT_4O"]
        # LLMClient.model(code) was removed (dead code): a code is looked up in
        # the registry, and an unknown one is refused by the settings at start-up.
        assert MODEL_REGISTRY["CLAUDE_HAIKU"].model_id == "claude-haiku-4-5"
        with pytest.raises(ValueError, match="unknown model code"):
            both_providers(DEFAULT_MODEL="GPT_5")
    finally:
        await tiered.aclose()
        await plain.aclose()


def test_registry_prices_and_cost() -> None:
    prices = {
        code: (spec.provider, spec.model_id, spec.input_usd_per_mtok, spec.output_usd_per_mtok)
        for code, spec in MODEL_REGISTRY.items()
    }
    assert prices["CLAUDE_HAIKU"] == (
        "anthropic",
        "claude-haiku-4-5",
        Decimal("1.00"),
        Decimal("5.00"),
    )
    assert prices["CLAUDE_SONNET"] == (
        "anthropic",
        "claude-sonnet-4-5",
        Decimal("3.00"),
        Decimal("15.00"),
    )
    assert prices["GPT_MINI"] == ("openai", "gpt-4o-mini", Decimal("0.15"), Decimal("0.60"))
    assert prices["GPT_4O"] == ("openai", "gpt-4o", Decimal("2.50"), Decimal("10.00"))

    assert MODEL_REGISTRY["CLAUDE_HAIKU"].cost_usd(1_000_000, 1_000_000) == Decimal("6")
    assert MODEL_REGISTRY["GPT_MINI"].cost_usd(1000, 500) == Decimal("0.00045")
    assert MODEL_REGISTRY["GPT_4O"].cost_usd(0, 0) == 0


def test_deadline_counts_down_and_never_goes_negative() -> None:
    soon = Deadline.after(30)
    past = Deadline.after(-1)

    assert 29 < soon.remaining() <= 30
    assert not soon.expired
    assert past.remaining() == 0.0
    assert past.expired
    assert Deadline.after(5).remaining() < soon.remaining()
