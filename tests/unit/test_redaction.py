"""Keys never reach people: provider messages are redacted before anyone sees them, and so is every log record
that mentions a key this process has used, whichever logger writes it."""

from __future__ import annotations

import logging

import pytest

from agents.llm.redaction import redact, remember_secret

KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c"


def test_a_known_key_is_redacted_as_sent_and_url_encoded():
    key = "k3y/with+special=chars"
    text = f"Incorrect API key provided: {key}. See https://x.test/v1?auth=k3y%2Fwith%2Bspecial%3Dchars"
    assert redact(text, [key]) == "Incorrect API key provided: [redacted]. See https://x.test/v1?auth=[redacted]"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer [redacted]"),
        ("GET /v1/models?key=AIzaSyA-secret-value&alt=json", "GET /v1/models?key=[redacted]&alt=json"),
        ("https://x.test/?api_key=abc123secret", "https://x.test/?api_key=[redacted]"),
        (f"invalid key {KEY} given", "invalid key sk-[redacted] given"),
    ],
)
def test_key_shaped_text_is_redacted_even_when_the_key_is_not_known(text, expected):
    assert redact(text, []) == expected


def test_ordinary_text_and_very_short_secrets_are_left_alone():
    text = "The server said: model not found (404). Bearer tokens are described in the docs."
    assert redact(text, ["", "abc"]) == text  # replacing 3 characters everywhere would garble the message


def test_a_log_record_naming_a_used_key_is_redacted_whoever_logs_it(caplog):
    secret = "canary-key-for-the-log-test-91f2"
    remember_secret(secret)
    with caplog.at_level(logging.DEBUG, logger="LiteLLM"):
        logging.getLogger("LiteLLM").debug("raw response: %s", {"error": f"bad key {secret}"})
        try:
            raise ValueError(f"provider refused {secret}")
        except ValueError:
            logging.getLogger("openai").exception("call failed")
    assert caplog.records and secret not in caplog.text
    assert "bad key [redacted]" in caplog.text and "provider refused [redacted]" in caplog.text
