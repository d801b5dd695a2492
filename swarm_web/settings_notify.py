"""Settings for telling people (notifications/) and e-mail, part of swarm_web.settings (README, configuration)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from swarm_web.env import env_bool, env_float, env_hosts, env_int, env_str

# Telling people (notifications/): when an agent needs a person, a verdict waits, a task finishes or a budget runs
# out. Everything that happens to one recipient (a member's e-mail, a team's webhook) within the digest window after
# a message goes out in the next one. Webhooks reach only the hosts the operator lists (agents/hosts.py rules, like
# SWARM_MODEL_HOSTS; empty: no webhook at all) and never follow redirects; a failed delivery is tried again with
# doubling delays (5xx, 429, timeouts, connection errors) up to SWARM_NOTIFY_TRIES times in all.
SWARM_PUBLIC_URL = env_str("SWARM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")  # links in e-mails and webhooks
SWARM_NOTIFY_DIGEST_SECONDS = env_float("SWARM_NOTIFY_DIGEST_SECONDS", 60)
SWARM_NOTIFY_TRIES = env_int("SWARM_NOTIFY_TRIES", 6)
# a question an agent asked (ask_person) still unanswered after this many minutes is escalated to the team's admins
SWARM_QUESTION_ESCALATE_MINUTES = env_float("SWARM_QUESTION_ESCALATE_MINUTES", 30)
SWARM_NOTIFY_BACKOFF = env_float("SWARM_NOTIFY_BACKOFF", 10.0)  # seconds before the first retry; doubles
SWARM_NOTIFY_BACKOFF_MAX = env_float("SWARM_NOTIFY_BACKOFF_MAX", 600.0)
SWARM_WEBHOOK_TIMEOUT = env_float("SWARM_WEBHOOK_TIMEOUT", 5.0)
SWARM_WEBHOOK_HOSTS = env_hosts("SWARM_WEBHOOK_HOSTS")
if SWARM_NOTIFY_TRIES < 1 or SWARM_NOTIFY_DIGEST_SECONDS < 0:
    raise ImproperlyConfigured("SWARM_NOTIFY_TRIES must be at least 1 and SWARM_NOTIFY_DIGEST_SECONDS not negative")
# E-mail through Django's mailers (Django 6.1's MAILERS): printed on the console unless the operator names an SMTP
# server. The environment keeps the familiar EMAIL_* names; only MAILERS and DEFAULT_FROM_EMAIL are Django settings.
_email_host = env_str("EMAIL_HOST", "")
_email_backend = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if _email_host else "django.core.mail.backends.console.EmailBackend",
)
_email_options: dict = {}
if _email_backend == "django.core.mail.backends.smtp.EmailBackend":
    if not _email_host:
        raise ImproperlyConfigured("EMAIL_BACKEND is SMTP: set EMAIL_HOST to the mail server")
    _email_options = {
        "host": _email_host,
        "use_tls": env_bool("EMAIL_USE_TLS", not env_bool("EMAIL_USE_SSL", False)),
        "use_ssl": env_bool("EMAIL_USE_SSL", False),
        "timeout": env_int("EMAIL_TIMEOUT", 10),
    }
    if _email_options["use_tls"] and _email_options["use_ssl"]:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: set one of them")
    if env_int("EMAIL_PORT", 0):
        _email_options["port"] = env_int("EMAIL_PORT", 0)
    if env_str("EMAIL_HOST_USER", ""):
        _email_options["username"] = env_str("EMAIL_HOST_USER", "")
        _email_options["password"] = env_str("EMAIL_HOST_PASSWORD", "")
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Swarm <swarm@localhost>")
