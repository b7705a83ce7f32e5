"""The coach's prompt: how much history is kept, and how turns become provider messages."""

from __future__ import annotations

import datetime as dt

from pacer_coach.chat.prompt import (
    INSTRUCTIONS,
    build_messages,
    build_system_prompt,
    trim_history,
)
from pacer_coach.store.conversations import HistoryMessage
from pacer_common.llm import ChatMessage
from pacer_common.tables.athlete_context import AthleteContext


def user(content: str) -> HistoryMessage:
    return HistoryMessage("user", content)


def coach(content: str) -> HistoryMessage:
    return HistoryMessage("assistant", content)


# --- trim_history ------------------------------------------------------------------------


def test_trim_keeps_the_newest_messages_that_fit() -> None:
    history = [user("aaaa"), coach("bbbb"), user("cc"), coach("ddd")]
    assert trim_history(history, max_chars=5) == [user("cc"), coach("ddd")]


def test_trim_keeps_everything_that_fits_exactly() -> None:
    history = [user("aaaa"), coach("bbbb")]
    assert trim_history(history, max_chars=8) == history
    assert trim_history(history, max_chars=7) == [coach("bbbb")]


def test_trim_stops_at_the_first_message_too_long_even_if_older_ones_would_fit() -> None:
    # Dropping a message from the middle would leave the model a history with a gap.
    history = [user("a"), coach("x" * 50), user("b")]
    assert trim_history(history, max_chars=10) == [user("b")]


def test_trim_of_nothing_or_with_no_room_is_empty() -> None:
    assert trim_history([], max_chars=100) == []
    assert trim_history([user("hello")], max_chars=0) == []
    assert trim_history([user("hello")], max_chars=4) == []


def test_trim_does_not_change_its_input() -> None:
    history = [user("aaaa"), coach("bbbb")]
    trim_history(history, max_chars=4)
    assert history == [user("aaaa"), coach("bbbb")]


# --- build_messages ----------------------------------------------------------------------


def test_the_new_message_comes_last_after_the_history() -> None:
    messages = build_messages([user("Hi"), coach("Hello!")], "How far today?")
    assert messages == [
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "How far today?"),
    ]


def test_with_no_history_there_is_only_the_new_message() -> None:
    assert build_messages([], "First question") == [ChatMessage("user", "First question")]


def test_a_history_that_starts_with_the_coach_is_cut_to_start_with_the_user() -> None:
    # Trimming can leave an assistant reply first; providers want a user turn first.
    messages = build_messages([coach("Earlier reply"), coach("Another")], "Next?")
    assert messages == [ChatMessage("user", "Next?")]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    # A reply that failed leaves two user messages in a row.
    messages = build_messages([user("One"), user("Two"), coach("A"), coach("B")], "Three")
    assert messages == [
        ChatMessage("user", "One\n\nTwo"),
        ChatMessage("assistant", "A\n\nB"),
        ChatMessage("user", "Three"),
    ]


def test_the_new_message_merges_into_a_trailing_user_turn() -> None:
    messages = build_messages([user("Unanswered")], "Hello?")
    assert messages == [ChatMessage("user", "Unanswered\n\nHello?")]


def test_a_role_other_than_assistant_counts_as_the_user() -> None:
    messages = build_messages([HistoryMessage("system", "odd row")], "Hi")
    assert messages == [ChatMessage("user", "odd row\n\nHi")]


def test_roles_alternate_starting_with_the_user_whatever_the_history() -> None:
    history = [coach("a"), user("b"), user("c"), coach("d"), user("e"), coach("f"), coach("g")]
    roles = [message.role for message in build_messages(history, "h")]
    assert roles == ["user", "assistant", "user", "assistant", "user"]


# --- build_system_prompt -----------------------------------------------------------------


def test_the_system_prompt_is_the_instructions_then_the_athlete() -> None:
    context = AthleteContext(
        name="Ada",
        checkins=[
            {
                "day": dt.date(2026, 3, 1),
                "sleep_hours": 6.5,
                "soreness": 3,
                "mood": 4,
                "note": "tired",
            }
        ],
        activities=[
            {
                "sport": "run",
                "started_at": dt.datetime(2026, 2, 28, 7, 0, tzinfo=dt.UTC),
                "duration_s": 3000,
                "distance_m": 10500.0,
                "avg_hr": 148,
            }
        ],
        goal={
            "race_name": "City Half",
            "race_date": dt.date(2026, 4, 12),
            "distance_m": 21097.5,
            "target_time_s": 6300,
        },
    )

    prompt = build_system_prompt(context, dt.date(2026, 3, 2))

    assert prompt == "\n".join(
        [
            INSTRUCTIONS,
            "",
            "Athlete: Ada. Today is 2026-03-02 (UTC).",
            "Check-in 2026-03-01: slept 6.5 h, soreness 3/5, mood 4/5, note: tired",
            "Activity 2026-02-28: run, 50 min, 10.5 km, avg HR 148",
            "Goal race: City Half on 2026-04-12, 21.1 km, target 105 min",
        ]
    )


def test_an_athlete_with_no_data_is_told_so() -> None:
    prompt = build_system_prompt(AthleteContext(name="New"), dt.date(2026, 1, 1))
    assert prompt.endswith(
        "Athlete: New. Today is 2026-01-01 (UTC).\nNo check-ins, activities, goal or plan logged yet."
    )
