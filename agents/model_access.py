"""Which key variables, hosts and providers a model profile may use: the operator's choice, checked in one place.

A team member writes a model profile; the operator configures what profiles may reach (README, Security). `check`
is called when a profile is created (agents/api.py) and again right before every model call (agents/llm/calls.py,
which the agent runtime and the judge panel both go through), because the settings may have narrowed since:

- `api_key_env` must be one of SWARM_MODEL_KEY_ENVS. The check never reads the environment, so its answer is
  the same whether the variable is set or not and tells nobody which variables exist.
- `api_base` must be `http(s)://host[:port][/path]` with the host and port allowed by SWARM_MODEL_HOSTS:
  an entry `host` allows the scheme's default port, `host:port` that port, `host:*` any port; names are
  compared exactly (lower case, one trailing dot ignored). No user name or password, no query, nothing but
  ASCII letters, digits and URL punctuation, and IP addresses only in their usual form (`10.0.0.5`, `[::1]`),
  so `127.1`, `2130706433` or `0x7f.0.0.1` are refused rather than resolved to something unexpected. Model
  calls never follow redirects (agents/llm/calls.py), so a call goes to that host and nowhere else.
- A profile with `api_base` is an OpenAI-compatible server, `openai/<model>`, and gets exactly the key its
  `api_key_env` names (or none). A profile without one reaches a provider of SWARM_MODEL_PROVIDERS at litellm's
  endpoint for it and must name its key variable: litellm would otherwise take a key from the environment by
  itself, whatever the operator allowed.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import httpx
from django.conf import settings

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
URL_CHARS = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$")
DEFAULT_PORTS = {"http": 80, "https": 443}
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


def _normal_host(host: str) -> str:
    """`host` as compared with SWARM_MODEL_HOSTS, or ProfileRefused for a form that could mean something else."""
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            address = None
        if address is None or address.scope_id:
            raise ProfileRefused("api_base", "has an IPv6 address that is not a plain one (like [::1]).")
        return f"[{address.compressed}]"
    if not DNS_NAME.match(host):
        raise ProfileRefused("api_base", "must name its host with letters, digits, '-' and '.', or an IP address.")
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() or last.startswith("0x"):  # a name ending in a number is read as an IPv4 address
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = ""
        if canonical != host:
            raise ProfileRefused("api_base", "must write an IPv4 address in its usual form, like 10.0.0.5.")
    return host


def _entry(entry: str) -> tuple[str, int | str | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        host, port = _normal_host(host), rest[1:] if rest.startswith(":") else None
    else:
        host, _, port = entry.partition(":")
        host, port = _normal_host(host), port or None
    return host, port if port in (None, "*") else int(port)


def allowed_host(api_base: str) -> str:
    """`host:port` of an api_base the operator allows, or ProfileRefused saying why not."""
    if len(api_base) > 300 or not URL_CHARS.match(api_base):
        raise ProfileRefused("api_base", "must be an http:// or https:// URL without spaces or other characters.")
    try:
        parts = urlsplit(api_base)
        port = parts.port
        parsed = httpx.URL(api_base)
    except (ValueError, httpx.InvalidURL):
        raise ProfileRefused("api_base", "must be an http:// or https:// URL.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ProfileRefused("api_base", "must be an http:// or https:// URL.")
    if "@" in parts.netloc or parsed.userinfo:
        raise ProfileRefused("api_base", "must not contain a user name or password.")
    if parts.query or parts.fragment or "?" in api_base or "#" in api_base:
        raise ProfileRefused("api_base", "must not have a query or a fragment.")
    host, port = _normal_host(parts.hostname), port or DEFAULT_PORTS[parts.scheme]
    # the HTTP client must read the same host and port, or the check would be about another URL than the call
    if _normal_host(parsed.host) != host or (parsed.port or DEFAULT_PORTS[parsed.scheme]) != port:
        raise ProfileRefused("api_base", "must be an http:// or https:// URL.")
    where = f"{host}:{port}"
    if not settings.SWARM_MODEL_HOSTS:
        raise ProfileRefused(
            "api_base",
            "must be empty: the operator allows no model host of your own (SWARM_MODEL_HOSTS is empty), so "
            "models are reached at their provider's own endpoint.",
        )
    for entry in settings.SWARM_MODEL_HOSTS:
        allowed, allowed_port = _entry(entry)
        if allowed == host and (allowed_port == "*" or (allowed_port or DEFAULT_PORTS[parts.scheme]) == port):
            return where
    raise ProfileRefused(
        "api_base", f"names {where}, which is not a host the operator allows for model calls (SWARM_MODEL_HOSTS)."
    )
