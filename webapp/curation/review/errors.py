"""The writes review refuses: each carries the message the curator reads and the HTTP status the page answers with."""

from __future__ import annotations


class ReviewError(Exception):
    """A refused write; `message` is what the curator reads."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StaleWrite(ReviewError):
    status = 409


class LeaseHeld(ReviewError):
    status = 409


class InvalidEdit(ReviewError):
    status = 400


class Ruled(ReviewError):
    """An admin ruled on the chain (adjudication): it is closed to curators' decisions and undos."""

    status = 409
