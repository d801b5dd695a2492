"""Which key variables, hosts and providers a model profile may use: the operator's choice, checked in one place.

A team member writes a model profile; the operator configures what profiles may reach (README, Security). `check`
is called when a profile is created (agents/api.py) and again right before every model call (agents/llm/calls.py,
which the agent runtime and the judge panel both go through), because the settings may have narrowed since:

- `api_key_env` must be one of SWARM_MODEL_KEY_ENVS. The check never reads the environment, so its answer is
  the same whether the variable is set or not and tells nobody which variables exist.
- `api_base` must be `http(s)://host[:port][/path]` with the host and port allowed by SWARM_MODEL_HOSTS, by the
  rules of agents/hosts.py (shared with the webhooks' SWARM_WEBHOOK_HOSTS). Model calls never follow redirects
  (agents/llm/calls.py), so a call goes to that host and nowhere else.
- A profile with `api_base` is an OpenAI-compatible server, `openai/<model>`, and gets exactly the key its
  `api_key_env` names (or none). A profile without one reaches a provider of SWARM_MODEL_PROVIDERS at litellm's
  endpoint for it and must name its key variable: litellm would otherwise take a key from the environment by
  itself, whatever the operator allowed.
"""

from __future__ import annotations

import re

from django.conf import settings

from agents import hosts

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
OPENAI_COMPATIBLE = "openai"


class ProfileRefused(Exception):
    """The profile names something the operator does not allow; `field` is the profile field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


def check(model: str, api_base: str, api_key_env: str) -> None:
    """Raise ProfileRefused unless the operator's settings allow this profile's key variable, host and provider."""
    model = (model or "").partition("#")[0].strip()  # `#text-tools` is Swarm's option, not part of the name
    api_base, api_key_env = (api_base or "").strip(), (api_key_env or "").strip()
    if model.startswith("sim/"):
        if api_base or api_key_env:
            raise ProfileRefused(
                "api_base" if api_base else "api_key_env",
                "must be empty for a simulated model (sim/...): it calls no server and needs no key.",
            )
        return
    _check_key_env(api_key_env)
    provider, _, name = model.partition("/")
    if not name:
        raise ProfileRefused("model", "must name its provider, like openai/gpt-4o or anthropic/claude-sonnet-4-5.")
    if api_base:
        host = allowed_host(api_base)
        if provider != OPENAI_COMPATIBLE:
            raise ProfileRefused(
                "model",
                f"must be openai/<model name> when api_base is set: {host} is reached as an OpenAI-compatible server.",
            )
        return
    if provider not in settings.SWARM_MODEL_PROVIDERS:
        raise ProfileRefused(
            "model",
            f"names a provider the operator does not allow without api_base; allowed: "
            f"{', '.join(settings.SWARM_MODEL_PROVIDERS) or 'none'} (SWARM_MODEL_PROVIDERS).",
        )
    if not api_key_env:
        raise ProfileRefused(
            "api_key_env",
            f"is needed to call {provider} at its own endpoint: name the variable that holds the key, one of "
            f"{', '.join(settings.SWARM_MODEL_KEY_ENVS) or 'none'}.",
        )


def _check_key_env(name: str) -> None:
    if not name:
        return
    if not ENV_NAME.match(name) or len(name) > 100:
        # said without repeating the value: it may be a key pasted by mistake
        raise ProfileRefused(
            "api_key_env",
            "must be the NAME of the environment variable that holds the key (capital letters, digits and _,"
            " like OPENAI_API_KEY), never the key itself.",
        )
    if name not in settings.SWARM_MODEL_KEY_ENVS:
        # one message for every name the operator did not list: set or not, the answer is the same
        raise ProfileRefused(
            "api_key_env",
            f"names a variable the operator does not allow for model keys; allowed: "
            f"{', '.join(settings.SWARM_MODEL_KEY_ENVS) or 'none'} (SWARM_MODEL_KEY_ENVS).",
        )


def allowed_host(api_base: str) -> str:
    """`host:port` of an api_base the operator allows, or ProfileRefused saying why not (agents/hosts.py)."""
    try:
        return hosts.allowed_host(
            api_base,
            settings.SWARM_MODEL_HOSTS,
            empty="must be empty: the operator allows no model host of your own (SWARM_MODEL_HOSTS is empty), so "
            "models are reached at their provider's own endpoint.",
            refused="model calls (SWARM_MODEL_HOSTS)",
        )
    except hosts.HostRefused as refused:
        raise ProfileRefused("api_base", refused.message) from None
