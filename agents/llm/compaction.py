"""Context compaction: older tool outputs shortened into summaries when a prompt nears the model's window.

The runtime decides when to call `compact` (with `context_budget(profile)` as the limit) and records the event.
"""

from __future__ import annotations

import json
import math

COMPACTED_MARK = "[compacted by Swarm to save context:"


def estimate_tokens(messages: list[dict]) -> int:
    """A deliberately high estimate (3 characters a token) that needs no tokenizer download."""
    return sum(_message_tokens(m) for m in messages)


def _message_tokens(message: dict) -> int:
    return math.ceil(len(json.dumps(message, ensure_ascii=False)) / 3)


def _summary(text: str) -> str:
    lines = text.splitlines()
    head = [line[:200] for line in lines[:5]]
    tail = [line[:200] for line in lines[-5:]] if len(lines) > 10 else []
    parts = [f"{COMPACTED_MARK} this tool output had {len(lines):,} lines, {len(text):,} characters]", *head]
    if tail:
        parts += [f"... {len(lines) - 10:,} lines left out ...", *tail]
    return "\n".join(parts)


def compact(messages: list[dict], limit_tokens: int) -> tuple[list[dict], bool]:
    """Shorten older tool outputs, oldest first, until the messages fit `limit_tokens` (estimated).

    Returns a new list (the input is not changed) and whether anything was compacted. The system prompt,
    people's messages, the model's own turns and tool-call ids stay as they were; outputs of 1,200
    characters or less are left alone, and the latest outputs are only shortened if the older ones were not enough.
    """
    sizes = [_message_tokens(m) for m in messages]
    total = sum(sizes)
    if total <= limit_tokens:
        return messages, False
    out = [dict(m) for m in messages]
    tool_indexes = [
        i
        for i, m in enumerate(out)
        if m.get("role") == "tool"
        and isinstance(m.get("content"), str)
        and not m["content"].startswith(COMPACTED_MARK)
        and len(m["content"]) > 1200
    ]
    compacted = False
    for i in tool_indexes:  # oldest first: the outputs the model is working from now go last, if at all
        if total <= limit_tokens:
            break
        out[i]["content"] = _summary(out[i]["content"])
        new_size = _message_tokens(out[i])
        total -= sizes[i] - new_size
        sizes[i] = new_size
        compacted = True
    return out, compacted
