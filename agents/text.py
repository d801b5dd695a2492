"""Untrusted text made storable: the one rule every input path (API, forms, model replies) applies."""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_chars(value):
    """Untrusted text, or JSON-like data holding it, with every character no database or JSON answer can hold replaced
    by U+FFFD. Lengths are kept: checks of size still see what was sent."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {clean_chars(str(k)): clean_chars(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_chars(v) for v in value]
    return value
