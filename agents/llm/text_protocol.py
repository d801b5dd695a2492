"""The text tool protocol, for models without native tool calling.

Such a model gets no `tools` parameter. Instead the system prompt lists the tools and asks for one block per
call, anywhere in the reply:

    <tool_call>{"name": "read_file", "arguments": {"path": "mathutil.py"}}</tool_call>

The blocks are parsed into ToolCalls (a broken block becomes a ToolCall with `error` set) and removed from
the Turn's text. Earlier calls are replayed to the model as such blocks, and tool results as user messages
starting `[tool result <id>]`, so the stored conversation keeps the native shape either way.
"""

from __future__ import annotations

import json
import re
import uuid

from agents.llm.turn import ToolCall

TOOL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)


def protocol_prompt(tools: list[dict]) -> str:
    lines = [
        "You have tools. To call one, write a block like this anywhere in your reply (one block per call):",
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as a JSON object>}}</tool_call>',
        "Each result comes back in a message starting [tool result <id>]. The tools:",
    ]
    for tool in tools:
        fn = tool.get("function", {})
        params = fn.get("parameters", {}).get("properties", {})
        required = set(fn.get("parameters", {}).get("required", []))
        args = ", ".join(
            f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}" for name, spec in params.items()
        )
        lines.append(f"- {fn.get('name')}({args}): {fn.get('description', '')}")
    return "\n".join(lines)


def as_text_protocol(messages: list[dict], tools: list[dict]) -> list[dict]:
    """The native conversation rewritten for a model that only reads and writes text."""
    out: list[dict] = []
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            blocks = []
            for call in m["tool_calls"]:
                fn = call.get("function", {})
                names[call.get("id", "")] = fn.get("name", "")
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except json.JSONDecodeError:
                    args = fn.get("arguments")
                blocks.append(f"<tool_call>{json.dumps({'name': fn.get('name'), 'arguments': args})}</tool_call>")
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.get("content") or "", *blocks]))})
        elif role == "tool":
            call_id = m.get("tool_call_id", "")
            out.append(
                {
                    "role": "user",
                    "content": f"[tool result {call_id} {names.get(call_id, '')}]\n{m.get('content') or ''}",
                }
            )
        else:
            out.append(dict(m))
    prompt = protocol_prompt(tools)
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{prompt}"
    else:
        out.insert(0, {"role": "system", "content": prompt})
    return out


def parse_text_calls(text: str) -> tuple[str, list[ToolCall]]:
    calls = []
    for block in TOOL_BLOCK.findall(text):
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        try:
            data = json.loads(block.strip())
        except json.JSONDecodeError as exc:
            calls.append(ToolCall(call_id, "", {}, block.strip(), f"tool call block is not valid JSON: {exc}"))
            continue
        name = data.get("name") if isinstance(data, dict) else None
        args = data.get("arguments", {}) if isinstance(data, dict) else None
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        raw = json.dumps(args) if not isinstance(args, str) else args
        if not isinstance(name, str) or not name:
            calls.append(ToolCall(call_id, "", {}, raw, 'tool call block needs a "name"'))
        elif not isinstance(args, dict):
            calls.append(ToolCall(call_id, name, {}, raw, "arguments must be a JSON object"))
        else:
            calls.append(ToolCall(call_id, name, args, raw))
    return TOOL_BLOCK.sub("", text).strip(), calls


def visible(text: str, native: bool) -> str:
    return text if native else text.split("<tool_call>", 1)[0].rstrip()
