"""The coach's own Prometheus metrics (HTTP, event-loop lag and LLM metrics come from pacer_common)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

OPEN_STREAMS = Gauge("coach_open_streams", "Chat streams open in this process.")
STREAMS_FINISHED = Counter(
    "coach_streams_total",
    "Chat streams by how they ended: status complete/partial/failed, code of the error or none.",
    ["status", "code"],
)
CHATS_REFUSED = Counter(
    "coach_chats_refused_total",
    "Chats refused before a stream opened, by reason.",
    ["reason"],
)
