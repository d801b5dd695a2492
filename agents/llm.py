"""The only module that imports litellm. Every model call, simulated or real, goes through `complete`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from django.conf import settings  # noqa: E402
from litellm import CustomLLM, ModelResponse  # noqa: E402

from agents import simulator  # noqa: E402

litellm.suppress_debug_info = True
litellm.telemetry = False


class SimulatorProvider(CustomLLM):
    """litellm custom provider `sim`: model strings `sim/<behaviour>` reach the offline simulator."""

    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):  # noqa: E501
        behaviour = model.split("/", 1)[-1]
        if behaviour not in simulator.BEHAVIOURS:
            raise litellm.BadRequestError(
                message=f"unknown simulator behaviour {behaviour!r}; one of {', '.join(simulator.BEHAVIOURS)}",
                model=model,
                llm_provider="sim",
            )
        turn = simulator.decide(behaviour, messages)
        step = sum(1 for m in messages if m.get("role") == "assistant")
        message = {"role": "assistant", "content": turn["content"]}
        if turn["tool_calls"]:
            message["tool_calls"] = simulator.as_openai_tool_calls(turn["tool_calls"], step)
        prompt_chars = sum(len(json.dumps(m.get("content") or "")) for m in messages)
        completion_chars = len(json.dumps(message))
        return ModelResponse(
            model=model,
            choices=[{"message": message, "finish_reason": "tool_calls" if turn["tool_calls"] else "stop"}],
            usage={
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": completion_chars // 4,
                "total_tokens": (prompt_chars + completion_chars) // 4,
            },
        )


litellm.custom_provider_map = [{"provider": "sim", "custom_handler": SimulatorProvider()}]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict
    raw_arguments: str = ""
    error: str = ""


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


class ModelError(Exception):
    pass


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def complete(profile, messages: list[dict], tools: list[dict], on_wait=None, on_text=None) -> Turn:
    """One model call for an agent; returns its text, tool calls, usage and cost."""
    api_key = os.environ.get(profile.api_key_env) if profile.api_key_env else None
    kwargs = {"model": profile.model, "messages": messages, "timeout": settings.SWARM_LLM_TIMEOUT}
    if tools:
        kwargs["tools"] = tools
    if profile.api_base:
        kwargs["api_base"] = profile.api_base
    if api_key:
        kwargs["api_key"] = api_key
    try:
        response = litellm.completion(**kwargs)
    except Exception as exc:  # provider messages can carry keys or key-bearing URLs: redact before anyone sees them
        raise ModelError(redact(f"{type(exc).__name__}: {exc}", [api_key or ""])[:2000]) from None
    choice = response.choices[0].message
    calls = []
    for tc in choice.tool_calls or []:
        raw = tc.function.arguments or "{}"
        try:
            args = json.loads(raw)
            error = "" if isinstance(args, dict) else "arguments must be a JSON object"
        except json.JSONDecodeError as exc:
            args, error = {}, f"arguments are not valid JSON: {exc}"
        calls.append(
            ToolCall(
                id=tc.id, name=tc.function.name, arguments=args if not error else {}, raw_arguments=raw, error=error
            )
        )
    usage = getattr(response, "usage", None)
    try:
        cost = 0.0 if profile.simulated else float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown models have no price: count tokens, cost stays 0
        cost = 0.0
    return Turn(
        content=choice.content or "",
        tool_calls=calls,
        tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
        tokens_out=getattr(usage, "completion_tokens", 0) or 0,
        cost_usd=cost,
    )
