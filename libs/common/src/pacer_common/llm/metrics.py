"""Prometheus metrics of every LLM attempt (a fallback is a second attempt).

``model`` labels carry the provider's model id (what the provider bills), not
our code. Outcomes are the usage outcomes: ok, timeout, overloaded,
upstream_error, cancelled.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from pacer_common.llm.registry import Provider
from pacer_common.llm.usage import UsageRecord

LLM_CALL_DURATION = Histogram(
    "llm_call_duration_seconds",
    "Duration of one LLM attempt, request sent to last byte, by outcome.",
    ["provider", "model", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
)
LLM_TIME_TO_FIRST_TOKEN = Histogram(
    "llm_time_to_first_token_seconds",
    "Time from sending a streamed LLM request to its first text token.",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0),
)
LLM_TOKENS = Counter(
    "llm_tokens_total",
    "LLM tokens, by direction (input = prompt, output = completion).",
    ["provider", "model", "direction"],
)
LLM_COST_USD = Counter(
    "llm_cost_usd_total",
    "LLM spend in US dollars, from the model registry's prices.",
    ["provider", "model"],
)
LLM_CALLS = Counter(
    "llm_calls_total",
    "LLM attempts, by outcome.",
    ["provider", "model", "outcome"],
)
LLM_FALLBACKS = Counter(
    "llm_fallbacks_total",
    "Requests handed to another provider after the first failed before its first token.",
    ["from_provider", "to_provider"],
)


def observe_attempt(record: UsageRecord) -> None:
    """Count one finished attempt; synchronous, so a cancelled caller cannot skip it."""
    provider, model = record.provider, record.model_id
    LLM_CALLS.labels(provider, model, record.outcome).inc()
    LLM_CALL_DURATION.labels(provider, model, record.outcome).observe(record.duration_ms / 1000)
    if record.ttft_ms is not None:
        LLM_TIME_TO_FIRST_TOKEN.labels(provider, model).observe(record.ttft_ms / 1000)
    LLM_TOKENS.labels(provider, model, "input").inc(record.input_tokens)
    LLM_TOKENS.labels(provider, model, "output").inc(record.output_tokens)
    LLM_COST_USD.labels(provider, model).inc(float(record.cost_usd))


def count_fallback(from_provider: Provider, to_provider: Provider) -> None:
    LLM_FALLBACKS.labels(from_provider, to_provider).inc()
