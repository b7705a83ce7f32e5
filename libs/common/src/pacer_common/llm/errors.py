"""Errors of the LLM layer: the only exceptions :class:`~pacer_common.llm.LLMClient` raises.

Every SDK exception (anthropic, openai, and the raw ``httpx2`` transport errors
the Anthropic SDK lets escape mid-stream) is translated into one of these in
``pacer_common.llm.providers``; nothing above that layer sees an SDK type.

    LLMError                 .code       .retryable
     ├── LLMTimeout          timeout         yes   first-token, idle-gap or whole-request deadline
     ├── LLMOverloaded       overloaded      yes   429, 503, 529
     └── LLMUpstreamError    upstream_error  yes   other 5xx, connection errors, dropped streams
          │                                  no    4xx other than 429 (a bug or a bad key)
          └── LLMInvalidOutput invalid_output no   a structured answer (output_schema) that is
                                                   missing, cut off or not a JSON object

``.message`` is safe to show a user: fixed wording, never an API key, never an
upstream body. ``.detail`` is for logs only (exception type, status, request id).
``.model`` is the model whose attempt failed (after a fallback, the fallback's).
"""

from __future__ import annotations

from pacer_common.llm.registry import ModelSpec


class LLMError(Exception):
    code: str = "llm_error"
    retryable: bool = False
    default_message: str = "The AI model could not answer."

    def __init__(
        self,
        message: str | None = None,
        *,
        model: ModelSpec | None = None,
        retryable: bool | None = None,
        detail: str = "",
    ) -> None:
        self.message = message or self.default_message
        self.model = model
        if retryable is not None:
            self.retryable = retryable
        self.detail = detail
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f" [{self.model.code}]" if self.model is not None else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.code}{where}: {self.message}{extra}"


class LLMTimeout(LLMError):
    code = "timeout"
    retryable = True
    default_message = "The AI model took too long to answer; please try again."


class LLMOverloaded(LLMError):
    code = "overloaded"
    retryable = True
    default_message = "The AI model is busy right now; please try again in a moment."


class LLMUpstreamError(LLMError):
    code = "upstream_error"
    retryable = True
    default_message = "The AI model failed to answer; please try again."


class LLMInvalidOutput(LLMUpstreamError):
    """The model answered, but not with the structured answer it was asked for.

    Raised by ``LLMClient.complete`` for a request with ``output_schema`` once the
    attempt has ended (its usage row says "ok": the answer was paid for).
    ``output`` is what the model sent instead (the JSON text, cut off or not,
    or its words), for the caller to keep for whoever debugs the schema; like
    ``detail``, never for the user. Not retryable here: the same model asked the
    same way tends to answer the same; a caller with retries of its own retries.
    """

    code = "invalid_output"
    retryable = False
    default_message = "The AI model's answer was not in the requested format."

    def __init__(
        self,
        message: str | None = None,
        *,
        model: ModelSpec | None = None,
        detail: str = "",
        output: str = "",
        finish_reason: str = "unknown",
    ) -> None:
        super().__init__(message, model=model, detail=detail)
        self.output = output
        self.finish_reason = finish_reason
