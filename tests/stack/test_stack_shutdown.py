"""Stopping the whole stack (`make run` gets SIGTERM) with replies streaming: the
proxy and the services stop first and store what they must, Postgres and Redis
last, so that every open reply survives as `partial` with the text its client saw."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fixtures.stack import start_stack
from fixtures.waiting import poll_sync

PASSWORD = "correct horse battery"
STREAMS = 20
STREAMING_DEADLINE_S = 60.0


@dataclass
class Reply:
    email: str
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    text: str = ""
    error: str | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def _read_stream(url: str, token: str, reply: Reply) -> None:
    try:
        with (
            httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=120)) as http,
            http.stream(
                "POST",
                "/v1/coach/chat",
                json={"message": "Tell me about tempo runs"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status_code == 200, response.read()
            name = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    reply.events.append((name, data))
                    if name == "delta":
                        reply.text += str(data["text"])
    except Exception as error:  # the assertion below reports it
        reply.error = repr(error)


def _login(http: httpx.Client, email: str) -> str:
    login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


@pytest.mark.timeout(300)
def test_stopping_the_stack_stores_every_open_reply_as_partial(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir: Path = tmp_path_factory.mktemp("shutdown") / "data"
    stack = start_stack(data_dir)
    replies = [Reply(f"streamer{index}@example.com") for index in range(STREAMS)]
    readers: list[threading.Thread] = []
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            tokens = []
            for reply in replies:
                account = {"email": reply.email, "password": PASSWORD, "name": "Streamer"}
                assert http.post("/v1/auth/register", json=account).status_code == 201
                tokens.append(_login(http, reply.email))
            # Replies long enough to be cut: a token every 100 ms for ~2 minutes.
            sim = f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}"
            http.post(
                f"{sim}/_sim/mode",
                json={"mode": "slow", "first_token_ms": 0, "token_ms": 100, "tokens": 1200},
            ).raise_for_status()
        for reply, token in zip(replies, tokens, strict=True):
            reader = threading.Thread(target=_read_stream, args=(stack.url, token, reply))
            reader.start()
            readers.append(reader)

        def all_streaming() -> bool:
            stuck = [reply.error for reply in replies if reply.error]
            assert not stuck, stuck
            return all(reply.text for reply in replies)

        poll_sync(
            all_streaming,
            timeout_s=STREAMING_DEADLINE_S,
            interval_s=0.05,
            what="text on every stream",
        )
    finally:
        took = stack.stop()
        for reader in readers:
            reader.join(timeout=30)
    assert not stack.pids(), f"left behind: {stack.pids()}"
    assert took < 15, f"stopping took {took:.1f} s"

    for reply in replies:
        assert reply.error is None, reply.error
        # What the client was told: the reply was cut by the shutdown, and it ended.
        assert reply.names[-2:] == ["error", "done"], reply.names[-5:]
        assert reply.events[-2][1]["code"] == "shutdown"
        assert reply.events[-1][1]["status"] == "partial"

    again = start_stack(data_dir)
    try:
        with httpx.Client(base_url=again.url, timeout=30) as http:
            for reply in replies:
                auth = {"Authorization": f"Bearer {_login(http, reply.email)}"}
                listed = http.get("/v1/coach/conversations", headers=auth)
                assert listed.status_code == 200, listed.text
                (conversation,) = listed.json()["items"]
                found = http.get(f"/v1/coach/conversations/{conversation['id']}", headers=auth)
                assistant = [m for m in found.json()["messages"] if m["role"] == "assistant"]
                assert len(assistant) == 1, found.text
                assert assistant[0]["status"] == "partial", (reply.email, assistant[0])
                assert assistant[0]["error_code"] == "shutdown"
                assert assistant[0]["content"] == reply.text
    finally:
        again.stop()
    assert not again.pids()
