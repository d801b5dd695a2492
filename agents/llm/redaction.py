"""Keys out of everything people see: provider messages are redacted, and so is every log record."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from urllib.parse import quote

SECRET_PATTERNS = [
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)([?&](?:key|api[_-]?key|token|access_token)=)[^&\s\"']+"),
    re.compile(r"\b(sk-)[A-Za-z0-9_-]{8,}"),
]


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            for variant in {secret, quote(secret, safe=""), quote(secret)}:
                text = text.replace(variant, "[redacted]")
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


# API keys this process has used. Provider error bodies echo keys, and litellm logs raw responses at
# DEBUG, so every log record is checked for them when it is made, whichever handler writes it later.
_known_secrets: tuple[str, ...] = ()


def remember_secret(secret: str) -> None:
    global _known_secrets
    if secret and secret not in _known_secrets:
        _known_secrets = (*_known_secrets, secret)


def _redacting_record_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call is logging's problem to report, not ours
            return record
        clean = redact(message, list(_known_secrets))
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            clean = redact(text, list(_known_secrets))
            if clean != text:
                record.exc_info, record.exc_text = None, clean
        return record

    factory.swarm_redacts = True  # type: ignore[attr-defined]
    return factory


if not getattr(logging.getLogRecordFactory(), "swarm_redacts", False):
    logging.setLogRecordFactory(_redacting_record_factory(logging.getLogRecordFactory()))
