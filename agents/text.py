"""Untrusted text made storable: the one rule every input path (API, forms, model replies) applies; and Markdown
rendered for a page, sanitised (goals, criteria, skills, previews)."""

from __future__ import annotations

import re

import markdown as md
import nh3

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


# Markdown preview: only harmless tags; no images (an exfiltration channel), no attributes that act.
PREVIEW_TAGS = {
    "p",
    "ul",
    "ol",
    "li",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "a",
    "br",
    "hr",
}


def render_markdown(text: str) -> str:
    html = md.markdown(text or "", extensions=["fenced_code"])
    return nh3.clean(html, tags=PREVIEW_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https"})
