"""Offsets into a decoded text -> 1-based (line, column in characters), as findings count them."""

from __future__ import annotations

import bisect
from typing import List, Tuple


class LineIndex:
    def __init__(self, text: str) -> None:
        self._starts: List[int] = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._starts.append(i + 1)

    def position(self, offset: int) -> Tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1
