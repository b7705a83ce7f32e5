"""The same questions put to the simulator through each real SDK, and what each
failure looks like through it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, ClassVar

import anthropic
import httpx2
import openai

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    text: str
    input_tokens: int
    output_tokens: int
    stop: str | None


class Driver:
    """One provider's SDK client plus what each failure looks like through it."""

    name: ClassVar[str]
    endpoint: ClassVar[str]
    model: ClassVar[str]
    timeout_error: ClassVar[type[Exception]]
    bad_request_error: ClassVar[type[Exception]]
    connection_error: ClassVar[type[Exception]]
    # What iterating a stream the server cut raises (see the Anthropic override).
    stream_cut_error: ClassVar[type[Exception]]
    # What iterating a stream raises when the next token is later than the read timeout.
    stream_timeout_error: ClassVar[type[Exception]]
    status_errors: ClassVar[dict[int, type[Exception]]]

    def __init__(self, base_url: str, max_retries: int = 0) -> None:
        raise NotImplementedError

    async def ask(self, prompt: str, *, stream: bool, **options: Any) -> Answer:
        raise NotImplementedError

    def tokens(self, prompt: str, **options: Any) -> AsyncGenerator[str, None]:
        """Each text delta of a streamed answer, as it arrives."""
        raise NotImplementedError

    async def ask_without_model(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class AnthropicDriver(Driver):
    name = "anthropic"
    endpoint = "/v1/messages"
    model = "claude-sim-1"
    timeout_error = anthropic.APITimeoutError
    bad_request_error = anthropic.BadRequestError
    connection_error = anthropic.APIConnectionError
    # The Anthropic SDK does not wrap transport errors raised mid-stream: the raw
    # httpx2 error (not httpx's, not anthropic.APIError) reaches the caller.
    stream_cut_error = httpx2.RemoteProtocolError
    stream_timeout_error = httpx2.ReadTimeout
    status_errors = {
        429: anthropic.RateLimitError,
        500: anthropic.InternalServerError,
        503: anthropic.ServiceUnavailableError,
        529: anthropic.OverloadedError,
    }

    def __init__(self, base_url: str, max_retries: int = 0) -> None:
        self.client = anthropic.AsyncAnthropic(
            base_url=base_url, api_key="test", max_retries=max_retries, timeout=DEFAULT_TIMEOUT_S
        )

    async def ask(self, prompt: str, *, stream: bool, **options: Any) -> Answer:
        options.setdefault("max_tokens", 1024)
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": prompt}]
        if not stream:
            message = await self.client.messages.create(
                model=self.model, messages=messages, **options
            )
            text = "".join(block.text for block in message.content if block.type == "text")
            usage = message.usage
            return Answer(text, usage.input_tokens, usage.output_tokens, message.stop_reason)
        events = await self.client.messages.create(
            model=self.model, messages=messages, stream=True, **options
        )
        parts: list[str] = []
        input_tokens = output_tokens = -1
        stop: str | None = None
        async for event in events:
            if event.type == "message_start":
                input_tokens = event.message.usage.input_tokens
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
            elif event.type == "message_delta":
                output_tokens, stop = event.usage.output_tokens, event.delta.stop_reason
        return Answer("".join(parts), input_tokens, output_tokens, stop)

    async def tokens(self, prompt: str, **options: Any) -> AsyncGenerator[str, None]:
        events = await self.client.messages.create(
            model=self.model,
            max_tokens=1024,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            **options,
        )
        try:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield event.delta.text
        finally:
            await events.close()

    async def message(self, request: dict[str, Any], *, stream: bool) -> anthropic.types.Message:
        """The whole answer to ``request``: the stream's final message, or the one body."""
        if not stream:
            message: anthropic.types.Message = await self.client.messages.create(**request)
            return message
        async with self.client.messages.stream(**request) as events:
            return await events.get_final_message()

    async def ask_without_model(self) -> None:
        # The typed method insists on `model`; the client's raw post lets a bug through.
        await self.client.post(
            "/v1/messages",
            cast_to=anthropic.types.Message,
            body={"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        )

    async def aclose(self) -> None:
        await self.client.close()


class OpenAIDriver(Driver):
    name = "openai"
    endpoint = "/v1/chat/completions"
    model = "gpt-sim-1"
    timeout_error = openai.APITimeoutError
    bad_request_error = openai.BadRequestError
    connection_error = openai.APIConnectionError
    stream_cut_error = openai.APIConnectionError
    stream_timeout_error = openai.APITimeoutError
    status_errors = {
        429: openai.RateLimitError,
        500: openai.InternalServerError,
        503: openai.InternalServerError,
        529: openai.InternalServerError,
    }

    def __init__(self, base_url: str, max_retries: int = 0) -> None:
        self.client = openai.AsyncOpenAI(
            base_url=f"{base_url}/v1",
            api_key="test",
            max_retries=max_retries,
            timeout=DEFAULT_TIMEOUT_S,
        )

    async def ask(self, prompt: str, *, stream: bool, **options: Any) -> Answer:
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": prompt}
        ]
        if not stream:
            completion = await self.client.chat.completions.create(
                model=self.model, messages=messages, **options
            )
            assert completion.usage is not None
            choice = completion.choices[0]
            return Answer(
                choice.message.content or "",
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens,
                choice.finish_reason,
            )
        chunks = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **options,
        )
        parts: list[str] = []
        input_tokens = output_tokens = -1
        stop: str | None = None
        async for chunk in chunks:
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                stop = choice.finish_reason or stop
            if chunk.usage is not None:
                input_tokens = chunk.usage.prompt_tokens
                output_tokens = chunk.usage.completion_tokens
        return Answer("".join(parts), input_tokens, output_tokens, stop)

    async def tokens(self, prompt: str, **options: Any) -> AsyncGenerator[str, None]:
        chunks = await self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            **options,
        )
        try:
            async for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
        finally:
            await chunks.close()

    async def completion(
        self, request: dict[str, Any], *, stream: bool
    ) -> openai.types.chat.ChatCompletion:
        """The whole answer to ``request``: the stream's final completion, or the one body."""
        if not stream:
            whole: openai.types.chat.ChatCompletion = await self.client.chat.completions.create(
                **request
            )
            return whole
        async with self.client.chat.completions.stream(**request) as chunks:
            return await chunks.get_final_completion()

    async def ask_without_model(self) -> None:
        await self.client.post(
            "/chat/completions",
            cast_to=openai.types.chat.ChatCompletion,
            body={"messages": [{"role": "user", "content": "hi"}]},
        )

    async def aclose(self) -> None:
        await self.client.close()


DRIVERS: dict[str, type[Driver]] = {"anthropic": AnthropicDriver, "openai": OpenAIDriver}
