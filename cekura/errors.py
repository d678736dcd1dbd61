"""Domain errors raised by services; one DRF exception handler turns them into answers."""
from __future__ import annotations


class DomainError(Exception):
    """Base class. `field` set → a 400 in DRF's `{"field": ["message"]}` shape."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    status_code = 400


class InsufficientBalance(DomainError):
    status_code = 402

    def __init__(self) -> None:
        super().__init__("Insufficient balance for this operation")


class Conflict(DomainError):
    status_code = 409
