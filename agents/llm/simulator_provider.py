"""The litellm custom provider `sim`: model strings `sim/<behaviour>` reach the offline simulator (agents/simulator.py).

Simulated agents and judges so travel the same path as real models: one `litellm.acompletion` call, usage and all.
Each answer comes SWARM_SIM_LATENCY seconds after the question, like a real model's, and the wait holds nothing
(an asyncio sleep on the calls' loop).
"""

from __future__ import annotations

import asyncio
import json
import time

import litellm
from django.conf import settings
from litellm import CustomLLM, ModelResponse

from agents import sim_planner, simulator


class SimulatorProvider(CustomLLM):
    """litellm custom provider `sim`: model strings `sim/<behaviour>` reach the offline simulator."""

    def completion(self, model, messages, *args, **kwargs):
        time.sleep(settings.SWARM_SIM_LATENCY)
        return _answer(model, messages)

    async def acompletion(self, model, messages, *args, **kwargs):
        await asyncio.sleep(settings.SWARM_SIM_LATENCY)
        return _answer(model, messages)


def _answer(model: str, messages: list[dict]) -> ModelResponse:
    behaviour = model.split("/", 1)[-1]
    known = simulator.BEHAVIOURS + sim_planner.BEHAVIOURS
    if behaviour not in known:
        raise litellm.BadRequestError(
            message=f"unknown simulator behaviour {behaviour!r}; one of {', '.join(known)}",
            model=model,
            llm_provider="sim",
        )
    chosen = sim_planner if behaviour in sim_planner.BEHAVIOURS else simulator
    turn = chosen.decide(behaviour, messages)
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
