"""The models Pacer may call, by code, with their provider and price.

Codes (``CLAUDE_HAIKU``, ``GPT_MINI``) are what settings name; the provider's
model id can change behind a code without touching configuration. Prices are
US dollars per million tokens, as the providers publish them, and are the only
source of the cost written to every usage row.

>>> MODEL_REGISTRY["GPT_MINI"].cost_usd(input_tokens=1000, output_tokens=500)
Decimal('0.00045')
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Provider = Literal["anthropic", "openai"]
PROVIDERS: tuple[Provider, ...] = ("anthropic", "openai")

TOKENS_PER_MTOK = Decimal(1_000_000)


@dataclass(frozen=True)
class ModelSpec:
    code: str
    provider: Provider
    model_id: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal

    def cost_usd(self, input_tokens: int, output_tokens: int) -> Decimal:
        """What ``input_tokens`` in and ``output_tokens`` out cost, exactly (no float rounding)."""
        return (
            self.input_usd_per_mtok * input_tokens + self.output_usd_per_mtok * output_tokens
        ) / TOKENS_PER_MTOK


def _spec(code: str, provider: Provider, model_id: str, usd_in: str, usd_out: str) -> ModelSpec:
    # Prices as strings: Decimal("0.15") is exact, Decimal(0.15) is not.
    return ModelSpec(code, provider, model_id, Decimal(usd_in), Decimal(usd_out))


MODEL_REGISTRY: dict[str, ModelSpec] = {
    spec.code: spec
    for spec in (
        _spec("CLAUDE_HAIKU", "anthropic", "claude-haiku-4-5", "1.00", "5.00"),
        _spec("CLAUDE_SONNET", "anthropic", "claude-sonnet-4-5", "3.00", "15.00"),
        _spec("GPT_MINI", "openai", "gpt-4o-mini", "0.15", "0.60"),
        _spec("GPT_4O", "openai", "gpt-4o", "2.50", "10.00"),
    )
}
