"""Matches a conditional action's condition against what the agent just said, offline.

First normalised exact phrases, then keyword recall with fuzzy word similarity (rapidfuzz) over
a small synonym table. No model, no torch: the default install stays light.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

# canonical word ← words that mean the same to a caller
_SYNONYMS = {
    "appointment": ("booking", "book", "slot", "visit", "reservation", "schedule"),
    "date": (
        "day",
        "when",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "tomorrow",
    ),
    "time": ("hour", "oclock", "morning", "afternoon", "evening"),
    "open": ("opening", "hours", "close", "closing"),
    "name": ("called",),
    "phone": ("number", "telephone", "mobile"),
    "cancel": ("cancellation", "cancelled", "canceled"),
    "price": ("cost", "fee", "charge", "pay"),
    "prescription": ("refill", "medication", "medicine", "pharmacy"),
    "help": ("assist", "assistance"),
    "bye": ("goodbye", "farewell"),
    "yes": ("yeah", "yep", "sure", "correct", "right"),
    "else": ("anything", "more"),
    "address": ("where", "located", "location"),
}
_CANON = {w: canon for canon, words in _SYNONYMS.items() for w in words} | {c: c for c in _SYNONYMS}
# Words that describe the situation rather than what is said in it.
_STOP = set(
    "a an the of to for in on at by and or is are was be it its this that with you your i me my we "
    "our "
    "agent caller user main testing asks ask asked says say said mentions mention tells tell if "
    "when then "
    "about please would could can will do does did".split()
) - {"when"}
FUZZY_WORD = 85  # rapidfuzz ratio at which two words count as the same


def keywords(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))
    return [_CANON.get(w, w) for w in words if w not in _STOP]


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "")))


def score(condition: str, said: str) -> float:
    """1.0 for the condition's phrase said as is; else the share of its keywords heard."""
    if normalise(condition) and f" {normalise(condition)} " in f" {normalise(said)} ":
        return 1.0
    wanted, heard = keywords(condition), keywords(said)
    if not wanted or not heard:
        return 0.0
    hits = sum(1 for w in wanted if any(w == h or fuzz.ratio(w, h) >= FUZZY_WORD for h in heard))
    return hits / len(wanted)


@dataclass(frozen=True)
class Match:
    index: int
    score: float


def best_match(conditions: list[str], said: str, *, threshold: float = 0.5) -> Match | None:
    """The condition that best fits what was said, if any passes the threshold (first wins ties)."""
    best: Match | None = None
    for i, cond in enumerate(conditions):
        s = score(cond, said)
        if s >= threshold and (best is None or s > best.score):
            best = Match(i, s)
    return best
