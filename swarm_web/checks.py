"""System checks `manage.py check --deploy` does not make: Swarm's own rules for a deployment (RELIABILITY 14)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Tags, Warning, register
from django.utils.module_loading import import_string

from agents.scheduling.base import Scheduler
from swarm_web.settings import DEV_SECRET_KEY


@register()
def check_scheduler(app_configs=None, **kwargs) -> list[Error]:
    """A mistyped SWARM_SCHEDULER stops `manage.py migrate` (and so `make run`), not the first launch."""
    path = settings.SWARM_SCHEDULER
    try:
        backend = import_string(path)
    except ImportError as exc:
        return [Error(f"SWARM_SCHEDULER {path!r} cannot be imported: {exc}", id="swarm.E020")]
    if not (isinstance(backend, type) and issubclass(backend, Scheduler)):
        return [
            Error(
                f"SWARM_SCHEDULER {path!r} is not a scheduler class.",
                hint="Name a subclass of agents.scheduling.base.Scheduler (README, Configuration).",
                id="swarm.E021",
            )
        ]
    return []


@register(Tags.security)
def check_hosts_and_csp(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    if "*" in settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS contains '*'.",
                hint="List the host names Swarm is served under; '*' also lets any Origin open a websocket.",
                id="swarm.E001",
            )
        )
    if any("*" in origin for origin in settings.CSRF_TRUSTED_ORIGINS):
        errors.append(Error("CSRF_TRUSTED_ORIGINS contains a wildcard.", hint="List exact origins.", id="swarm.E002"))
    csp = getattr(settings, "SECURE_CSP", None) or {}
    if not csp.get("script-src") or not csp.get("default-src"):
        errors.append(
            Error(
                "SECURE_CSP is missing or has no default-src and script-src.",
                hint="Keep the Content-Security-Policy of swarm_web/settings.py: agent output is shown on every page.",
                id="swarm.E003",
            )
        )
    middleware = "django.middleware.csp.ContentSecurityPolicyMiddleware"
    if middleware not in settings.MIDDLEWARE:
        errors.append(Error(f"{middleware} is not in MIDDLEWARE, so no CSP is sent.", id="swarm.E004"))
    return errors


@register(Tags.security, deploy=True)
def check_deployment_secrets(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    if settings.SECRET_KEY == DEV_SECRET_KEY:
        errors.append(
            Error(
                "SECRET_KEY is the development key printed in Swarm's source.",
                hint="Set SECRET_KEY to a long random value of your own.",
                id="swarm.E010",
            )
        )
    if settings.DEBUG:
        errors.append(Error("DEBUG is on in a deployment.", id="swarm.E011"))
    return errors


@register(Tags.security, deploy=True)
def check_redis(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Redis holds the queued steps and carries the live updates (RELIABILITY 3 and 14): it should keep its data
    across a restart, let in only those who know its password, and listen on loopback or a private network."""
    if not settings.REDIS_URL:
        return []
    where = redis_location(settings.REDIS_URL)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    messages: list[CheckMessage] = []
    if not _private_host(urlsplit(settings.REDIS_URL).hostname or ""):
        messages.append(
            Warning(
                f"Redis at {where} is reached over a public address.",
                hint="Bind Redis to loopback or a private network ('bind 127.0.0.1' or a private address in "
                "redis.conf) and reach it there: its data are every queued step and every live update.",
                id="swarm.W022",
            )
        )
    try:
        client.ping()
    except redis.RedisError as exc:
        return [
            *messages,
            Info(f"Could not reach Redis at {where} to check its configuration ({exc}).", id="swarm.I020"),
        ]
    try:
        appendonly = client.config_get("appendonly").get("appendonly")
    except redis.ResponseError:  # CONFIG renamed or disabled, or the user may not run it
        messages.append(
            Info(
                f"Could not read Redis's appendonly setting at {where} (CONFIG is disabled).",
                hint="Make sure it is 'appendonly yes'.",
                id="swarm.I021",
            )
        )
    else:
        if appendonly != "yes":
            messages.append(
                Warning(
                    f"Redis at {where} runs with 'appendonly {appendonly}': a restart loses every queued step.",
                    hint="Set 'appendonly yes' in redis.conf. Swarm re-enqueues the steps Redis loses, but only "
                    "after noticing; with persistence they are not lost at all.",
                    id="swarm.W020",
                )
            )
    url = urlsplit(settings.REDIS_URL)
    if not url.password:
        messages.append(
            Warning(
                f"REDIS_URL names no password, so Redis at {where} lets in anyone who can reach it.",
                hint="Set 'requirepass' (or an ACL user) in redis.conf and put it in REDIS_URL "
                "(redis://:PASSWORD@host:6379/0).",
                id="swarm.W021",
            )
        )
    client.close()
    return messages


def _private_host(host: str) -> bool:
    """Loopback, private, link-local and reserved addresses, and names (a host name on a private network, as Docker
    and Kubernetes give them); only a globally routed IP address is not."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True  # a name: where it points is the network's business, not something to guess here
    return not address.is_global


def redis_location(url: str) -> str:
    """host:port/db of a Redis URL, without its password."""
    parts = urlsplit(url)
    if not parts.hostname:  # unix:///path/to/redis.sock
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
