"""What Swarm knows about a profile's model: its litellm name, whether it takes native tools, its context window.

Prices and context windows: the model profile's own (set in its form) come first. Models litellm does not know
can also be taught with `register_models` or the JSON file named by SWARM_LLM_MODELS_FILE (litellm's model_cost
format, e.g. {"openai/my-model": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7,
"max_input_tokens": 32768, "litellm_provider": "openai", "mode": "chat", "supports_function_calling": true}}).
"""

from __future__ import annotations

import json

import litellm
from django.conf import settings

TEXT_TOOLS = "text-tools"  # model-string suffix `#text-tools`: use the text protocol even if litellm says otherwise

_models_file_loaded: str | None = None


def register_models(models: dict) -> None:
    """Teach litellm prices, context windows and tool support of models it does not know (its model_cost format)."""
    litellm.register_model(models)


def load_models_file() -> None:
    global _models_file_loaded
    path = settings.SWARM_LLM_MODELS_FILE
    if path and path != _models_file_loaded:
        with open(path) as fh:
            register_models(json.load(fh))
        _models_file_loaded = path


def model_name(profile) -> tuple[str, bool]:
    """The litellm model string and whether the profile forces the text tool protocol."""
    model, _, option = profile.model.partition("#")
    return model, option.strip() == TEXT_TOOLS


def _model_info(model: str) -> dict:
    try:
        return dict(litellm.get_model_info(model))
    except Exception:  # litellm raises for models it has no entry for
        return {}


def native_tools(profile) -> bool:
    """Whether the model gets OpenAI `tools`; otherwise the text tool protocol (text_protocol.py)."""
    load_models_file()
    model, forced_text = model_name(profile)
    if forced_text:
        return False
    if profile.simulated:
        return True
    info = _model_info(model)
    if not info:
        return True  # unknown to litellm, typically a self-hosted OpenAI-compatible server: most speak tools
    return bool(info.get("supports_function_calling"))


def context_budget(profile) -> int:
    """Tokens a prompt may use before older tool outputs should be compacted: 3/4 of the model's input window
    (the profile's own figure first, then litellm's, then SWARM_LLM_CONTEXT_TOKENS)."""
    load_models_file()
    model, _ = model_name(profile)
    window = (
        getattr(profile, "context_window", None)
        or _model_info(model).get("max_input_tokens")
        or settings.SWARM_LLM_CONTEXT_TOKENS
    )
    return int(window * 0.75)  # the rest is for the tool schemas, the budget line and the reply
