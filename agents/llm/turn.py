"""What one model call returns: its text, the tool calls it asked for, and its usage and cost."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict
    raw_arguments: str = ""
    error: str = ""

    @classmethod
    def from_json(cls, call_id: str, name: str, raw_arguments: str) -> ToolCall:
        """A call whose arguments are JSON text: a native tool call, fresh from the model or saved in a conversation.

        Arguments that are not JSON, or not a JSON object, leave `arguments` empty and say why in `error`: the
        runtime answers such a call with the error instead of running it.
        """
        try:
            args = json.loads(raw_arguments)
            error = "" if isinstance(args, dict) else "arguments must be a JSON object"
        except json.JSONDecodeError as exc:
            args, error = {}, f"arguments are not valid JSON: {exc}"
        return cls(id=call_id, name=name, arguments=args if not error else {}, raw_arguments=raw_arguments, error=error)


@dataclass
class Turn:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def as_message(self) -> dict:
        message: dict = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_arguments}}
                for c in self.tool_calls
            ]
        return message
