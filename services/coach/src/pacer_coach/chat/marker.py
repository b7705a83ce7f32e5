"""Strip a coaching session's closing marker from a reply as it streams.

The topic's prompt asks the model to end its closing message with
SESSION_END_MARKER. The athlete must never see it, and the model's tokens may
cut it anywhere (``"[[END_"`` then ``"SESSION]]"``), so text is held back only
while the end of what was received could still be the start of the marker::

    >>> strip = MarkerStripper("[[END]]")
    >>> strip.feed("All set! [[EN"), strip.feed("D]]"), strip.seen
    ('All set! ', '', True)
    >>> strip.feed("a [[E"), strip.flush()
    ('a ', '[[E')
"""

from __future__ import annotations


class MarkerStripper:
    """Feed it each delta; it returns what may be shown. ``flush()`` at the end
    gives back what was held (the start of a marker that never came)."""

    def __init__(self, marker: str) -> None:
        if not marker:
            raise ValueError("the marker must not be empty")
        self._marker = marker
        self._held = ""
        self.seen = False

    def feed(self, text: str) -> str:
        buffer = self._held + text
        shown: list[str] = []
        # Every whole marker goes, wherever it is: a model that puts it mid-reply
        # has still ended the session, and the athlete still must not see it.
        while (at := buffer.find(self._marker)) >= 0:
            shown.append(buffer[:at])
            buffer = buffer[at + len(self._marker) :]
            self.seen = True
        keep = self._possible_start(buffer)
        shown.append(buffer[: len(buffer) - keep])
        self._held = buffer[len(buffer) - keep :]
        return "".join(shown)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held

    def _possible_start(self, buffer: str) -> int:
        """The length of the longest end of ``buffer`` that begins the marker."""
        for size in range(min(len(self._marker) - 1, len(buffer)), 0, -1):
            if buffer.endswith(self._marker[:size]):
                return size
        return 0
