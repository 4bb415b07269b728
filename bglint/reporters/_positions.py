"""Offsets into a decoded text -> 1-based (line, column in characters), as findings count them."""

from __future__ import annotations

import bisect
from typing import Tuple

from bglint import sources


class LineIndex:
    def __init__(self, text: str) -> None:
        self._starts = sources.line_starts(text)

    def position(self, offset: int) -> Tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1
