"""Settings from the environment: each variable read with its type, and a clear error naming it when it is wrong."""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


GIT_CREDENTIAL = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,49})=(?:token:(?:(?P<user>[A-Za-z0-9._+-]{1,100}):)?(?P<env>[A-Z_][A-Z0-9_]*)"
    r"|ssh:(?P<key>/[^@,\s]+))(?:@(?P<hosts>[^,\s]+))?"
)


def env_git_credentials(name: str) -> dict[str, dict]:
    """`name=token:ENV_VAR`, `name=token:USER:ENV_VAR` or `name=ssh:/path/to/key`, each with an optional `@host|host`,
    separated by commas: {name: {"kind", "user", "env", "key", "hosts"}}. Only names and places, never a secret."""
    found: dict[str, dict] = {}
    for entry in (e.strip() for e in os.environ.get(name, "").split(",")):
        match = GIT_CREDENTIAL.fullmatch(entry) if entry else None
        if entry and not match:
            raise ImproperlyConfigured(
                f"{name} lists name=token:ENV_VAR, name=token:USER:ENV_VAR or name=ssh:/absolute/key/file, each with"
                f" an optional @host|host; {entry.split('=', 1)[0]!r} is not one"
            )
        if match:
            kind = "token" if match["env"] else "ssh"
            hosts = [h.lower() for h in (match["hosts"] or "").split("|") if h]
            user = match["user"] or "x-access-token"
            found[match["name"]] = {
                "kind": kind,
                "user": user,
                "env": match["env"],
                "key": match["key"],
                "hosts": hosts,
            }
    return found


def env_hosts(name: str) -> list[str]:
    """An operator's host allowlist (agents/hosts.py rules): host, host:port or host:*, comma-separated."""
    hosts = [h.strip().lower() for h in env_str(name, "").split(",") if h.strip()]
    for host in hosts:
        if not re.fullmatch(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:([0-9]{1,5}|\*))?", host):
            raise ImproperlyConfigured(f"{name} lists host, host:port or host:*; {host!r} is not one")
    return hosts
