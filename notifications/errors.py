"""How one attempt to tell someone ends when it does not succeed (e-mail and webhooks alike)."""

from __future__ import annotations


class Refused(Exception):
    """The webhook URL may not be called (the operator's list): `message` completes "url ..."."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Failed(Exception):
    """One attempt failed; `retry` says whether another may succeed (5xx, 429, timeout, connection error)."""

    def __init__(self, message: str, retry: bool, code: int | None = None):
        super().__init__(message)
        self.message, self.retry, self.code = message, retry, code
