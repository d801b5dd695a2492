"""System checks `manage.py check --deploy` does not make: Swarm's own rules for a deployment (RELIABILITY 14)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
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
