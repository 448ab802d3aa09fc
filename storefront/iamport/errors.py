"""IamportError, the one error the iamport client raises, and the log line of each failed call."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class IamportError(Exception):
    """An iamport call failed; carries the API code, the message and the HTTP status."""

    def __init__(self, code: int | None, message: str, status: int | None = None, *,
                 unknown_outcome: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self._unknown_outcome = unknown_outcome

    @property
    def not_found(self) -> bool:
        """True when iamport answered 404 (no such payment, billing key or schedule)."""
        return self.status == 404

    @property
    def unknown_outcome(self) -> bool:
        """True when the request may or may not have taken effect: reconcile, never retry."""
        if self._unknown_outcome is not None:
            return self._unknown_outcome
        return self.status is None or self.status >= 500

    def __str__(self) -> str:
        """Return the message with the HTTP status and API code when known."""
        details = [f"HTTP {self.status}"] if self.status is not None else []
        details += [f"code {self.code}"] if self.code is not None else []
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with all attributes (Exception's default would pass only the message)."""
        return (self.__class__, (self.code, self.message, self.status), self.__dict__)


def logged(error: IamportError, method: str, path: str) -> IamportError:
    """Log a failed call and hand the error back to be raised."""
    # A 404 is an answer callers expect (a key not confirmed yet, an order never paid).
    level = logging.INFO if error.not_found else logging.WARNING
    logger.log(level, "iamport %s %s failed: %s", method, path, error)
    return error
