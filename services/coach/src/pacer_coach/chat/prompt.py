"""The coach's prompt: instructions, the athlete's recent data and the trimmed history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pacer_coach.store.athlete_context import AthleteContext
from pacer_coach.store.conversations import HistoryMessage
from pacer_common.llm import ChatMessage

INSTRUCTIONS = (
    "You are Pacer, a friendly and careful running coach. Answer in a few short "
    "paragraphs, grounded in the athlete's data below. Never give medical diagnoses; "
    "suggest a professional when pain or illness is mentioned."
)


def _athlete_section(context: AthleteContext, today: dt.date) -> str:
    lines = [f"Athlete: {context.name}. Today is {today.isoformat()} (UTC)."]
    for checkin in context.checkins:
        lines.append(
            f"Check-in {checkin['day']}: slept {float(checkin['sleep_hours']):g} h, "
            f"soreness {checkin['soreness']}/5, mood {checkin['mood']}/5"
            + (f", note: {checkin['note']}" if checkin["note"] else "")
        )
    for activity in context.activities:
        distance = (
            f", {float(activity['distance_m']) / 1000:.1f} km" if activity["distance_m"] else ""
        )
        heart_rate = f", avg HR {activity['avg_hr']}" if activity["avg_hr"] else ""
        lines.append(
            f"Activity {activity['started_at']:%Y-%m-%d}: {activity['sport']}, "
            f"{activity['duration_s'] // 60} min{distance}{heart_rate}"
        )
    if context.goal is not None:
        goal = context.goal
        lines.append(
            f"Goal race: {goal['race_name']} on {goal['race_date']}, "
            f"{float(goal['distance_m']) / 1000:.1f} km"
            + (f", target {goal['target_time_s'] // 60} min" if goal["target_time_s"] else "")
        )
    if context.plan is not None:
        plan = context.plan
        lines.append(
            f"Plan: {plan['name']}, {plan['start_date']} to {plan['end_date']}, "
            f"{plan['sessions_per_week']} sessions a week"
        )
    if len(lines) == 1:
        lines.append("No check-ins, activities, goal or plan logged yet.")
    return "\n".join(lines)


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


def build_system_prompt(context: AthleteContext, today: dt.date) -> str:
    return f"{INSTRUCTIONS}\n\n{_athlete_section(context, today)}"
