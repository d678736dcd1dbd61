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


class InvalidFields(DomainError):
    """Several problems at once, each under the path of the field it concerns
    (`{"scenarios[3].metrics[0]": ["..."]}`)."""

    status_code = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class InsufficientBalance(DomainError):
    status_code = 402

    def __init__(self) -> None:
        super().__init__("Insufficient balance for this operation")


class Conflict(DomainError):
    status_code = 409
