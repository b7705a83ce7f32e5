"""The coach's prompt: instructions, the athlete's recent data and the trimmed history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pacer_coach.store.conversations import HistoryMessage
from pacer_common.llm import ChatMessage
from pacer_common.tables.athlete_context import AthleteContext, describe_athlete

INSTRUCTIONS = (
    "You are Pacer, a friendly and careful running coach. Answer in a few short "
    "paragraphs, grounded in the athlete's data below. Never give medical diagnoses; "
    "suggest a professional when pain or illness is mentioned."
)


def trim_history(history: list[HistoryMessage], max_chars: int) -> list[HistoryMessage]:
    """Keep the newest messages that fit in ``max_chars`` (a stand-in for a token budget)."""
    kept: list[HistoryMessage] = []
    used = 0
    for message in reversed(history):
        used += len(message.content)
        if used > max_chars:
            break
        kept.append(message)
    kept.reverse()
    return kept


def build_messages(history: list[HistoryMessage], message: str) -> list[ChatMessage]:
    """History then the new message, starting with the user and alternating roles,
    as the providers expect: consecutive turns of one role are merged."""
    merged: list[ChatMessage] = []
    for item in [*history, HistoryMessage("user", message)]:
        role: Literal["user", "assistant"] = "assistant" if item.role == "assistant" else "user"
        if not merged and role == "assistant":
            continue
        if merged and merged[-1].role == role:
            merged[-1] = ChatMessage(role=role, content=f"{merged[-1].content}\n\n{item.content}")
        else:
            merged.append(ChatMessage(role=role, content=item.content))
    return merged


# With tools offered (plain chat): the summary below is short, the tools go further;
# and a proposal is not a save, which the model must not claim.
TOOL_INSTRUCTIONS = (
    "You can look up more of the athlete's data with your tools. When they report a "
    "workout or ask to change their plan or goal, propose it with a propose_ tool: "
    "nothing is saved until they apply it, so never say it is logged."
)


def build_system_prompt(context: AthleteContext, today: dt.date, *, tools: bool = False) -> str:
    instructions = f"{INSTRUCTIONS} {TOOL_INSTRUCTIONS}" if tools else INSTRUCTIONS
    return f"{instructions}\n\n{describe_athlete(context, today)}"


def build_session_prompt(topic_prompt: str, context: AthleteContext, today: dt.date) -> str:
    """A coaching session's prompt: the topic's (read from Postgres each turn, so an
    admin's edit applies to the next message), then the athlete's data."""
    return f"{topic_prompt}\n\n{describe_athlete(context, today)}"
