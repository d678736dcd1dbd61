"""What the demo receptionist answers: a handful of intents matched on keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

GREETING = "Hello, thank you for calling Sunny Clinic. How can I help you today?"
FAREWELL = "Thank you for calling Sunny Clinic. Goodbye!"
TALK_OVER = "Yes, yes, I understand, I understand."
# Calibration mode's answers, used in turn: one opens on a vowel, one on a soft fricative (a
# harder onset to place in noise); both run long enough for barge-ins at 1.5 s.
CALIBRATION_CLIPS = (
    "Okay. Our clinic opens at nine in the morning and closes at five in the evening on weekdays.",
    "So, the clinic is open from nine in the morning until five in the evening on weekdays.",
)
FALLBACK = (
    "Sorry, I can help with appointments, opening hours and prescriptions. What would you like?"
)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "tomorrow")


@dataclass(frozen=True)
class Reply:
    text: str
    hang_up: bool = False


def greeting_for(variables: dict[str, Any] | None) -> str:
    """The greeting; with a `patient_name` among the agent variables a spec case sent through
    the session endpoint, the patient is greeted by name (how a test sees them arrive)."""
    name = (variables or {}).get("patient_name")
    if isinstance(name, str) and re.fullmatch(r"[A-Za-z][A-Za-z .'-]{0,39}", name.strip()):
        return (
            f"Hello {name.strip()}, thank you for calling Sunny Clinic. How can I help you today?"
        )
    return GREETING


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def reply_to(heard: str) -> Reply:
    words = _words(heard)
    if words & {"bye", "goodbye"} or "that's all" in heard.lower():
        return Reply(FAREWELL, hang_up=True)
    day = next((d for d in DAYS if d in words), None)
    if day and day in ("saturday", "sunday"):
        return Reply("I am sorry, we are closed at the weekend. Would a weekday suit you?")
    if day:
        return Reply(
            f"Great, your appointment is on {day.capitalize()} at ten in the morning. Is there "
            "anything else?"
        )
    if words & {"cancel", "cancellation"}:
        return Reply("Your appointment has been cancelled. Is there anything else?")
    if words & {"appointment", "book", "booking", "schedule", "see"}:
        return Reply("Of course, I can book an appointment for you. Which day would suit you?")
    if words & {"hours", "open", "opening", "close", "closing"}:
        return Reply(
            "We are open Monday to Friday, from eight in the morning to six in the evening."
        )
    if words & {"prescription", "refill", "medication", "medicine"}:
        return Reply("I have sent a refill request to your doctor. It will be ready tomorrow.")
    if words & {"where", "address", "located", "location"}:
        return Reply("We are at twelve Main Street, next to the pharmacy.")
    return Reply(FALLBACK)
