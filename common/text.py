"""Reading what was said."""

from __future__ import annotations

import re

_GOODBYE = re.compile(r"\b(good\s*bye|bye|have a (nice|good|great) day)\b", re.I)


def says_goodbye(text: str) -> bool:
    """Whether a line closes the conversation (goodbye, bye, have a nice day)."""
    return bool(_GOODBYE.search(text))
