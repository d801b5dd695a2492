"""Swarm settings: every knob is an environment variable with a safe default (see README)."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

# litellm downloads its cost map at import unless told otherwise: Swarm never needs the internet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-swarm-0000000000000000000000"


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


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
# The embedded mode is a local tool; a real deployment sets SECRET_KEY and SWARM_PRODUCTION=true.
if env_bool("SWARM_PRODUCTION", False) and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SWARM_PRODUCTION=true needs a SECRET_KEY of your own")

ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list host names; '*' would also let any Origin open a websocket")
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

DATA_DIR = Path(env_str("SWARM_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
WORKTREES_DIR = DATA_DIR / "worktrees"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "agents",
    "judges",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "swarm_web.urls"
ASGI_APPLICATION = "swarm_web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "agents.context_processors.attention",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "swarm.sqlite3",
            # IMMEDIATE + WAL + a busy timeout: 0 "database is locked" under 8 writers (RELIABILITY 6).
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # pub/sub layer: 2-3x cheaper per message than the core layer (PERFORMANCE.md); the DB
            # event log stays the truth, sockets replay from it.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Where agent steps run: "inprocess" (inside the web process) or "celery" (any number of workers).
SWARM_EXECUTOR = env_str("SWARM_EXECUTOR", "celery" if REDIS_URL else "inprocess")
if SWARM_EXECUTOR not in {"inprocess", "celery", "manual"}:
    raise ImproperlyConfigured("SWARM_EXECUTOR must be inprocess, celery or manual (tests)")
if SWARM_EXECUTOR == "celery" and not REDIS_URL:
    raise ImproperlyConfigured("SWARM_EXECUTOR=celery needs REDIS_URL for the broker")
SWARM_SERVE_STATIC = env_bool("SWARM_SERVE_STATIC", True)  # daphne serves /static/ itself in the embedded mode
SWARM_STEP_DELAY = env_float("SWARM_STEP_DELAY", 0.8)  # seconds between simulated steps, keeps the demo watchable
SWARM_MAX_PARALLEL_STEPS = env_int("SWARM_MAX_PARALLEL_STEPS", 8)
SWARM_COMMAND_TIMEOUT = env_int("SWARM_COMMAND_TIMEOUT", 120)
SWARM_OUTPUT_CAP = env_int("SWARM_OUTPUT_CAP", 64 * 1024)
SWARM_LEASE_SECONDS = env_int("SWARM_LEASE_SECONDS", 300)
SWARM_SWEEP_SECONDS = env_float("SWARM_SWEEP_SECONDS", 30)  # each worker's sweep for agents whose step was lost
SWARM_SHUTDOWN_SECONDS = env_float("SWARM_SHUTDOWN_SECONDS", 5)  # on SIGTERM, how long running steps get to hand back
SWARM_STEP_OVERDUE_SECONDS = env_float("SWARM_STEP_OVERDUE_SECONDS", 60)  # a scheduled step this late is lost
SWARM_LLM_TIMEOUT = env_float("SWARM_LLM_TIMEOUT", 120)  # seconds per model call attempt (per read when streaming)
SWARM_LLM_RETRIES = env_int("SWARM_LLM_RETRIES", 4)  # retries after the first attempt on 429, 5xx, timeouts
SWARM_LLM_BACKOFF = env_float("SWARM_LLM_BACKOFF", 1.0)  # first retry's delay in seconds; doubles, with jitter
SWARM_LLM_BACKOFF_MAX = env_float("SWARM_LLM_BACKOFF_MAX", 30.0)
SWARM_LLM_STREAM = env_bool("SWARM_LLM_STREAM", True)  # stream real models' replies (the simulator never streams)
SWARM_LLM_CONTEXT_TOKENS = env_int("SWARM_LLM_CONTEXT_TOKENS", 32_000)  # context window of models litellm does not know
SWARM_LLM_MODELS_FILE = env_str("SWARM_LLM_MODELS_FILE", "")  # JSON in litellm's model_cost format: prices, windows

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis hands an unacknowledged step to another worker after this long (a killed worker's steps come back).
SWARM_BROKER_VISIBILITY_SECONDS = env_int("SWARM_BROKER_VISIBILITY_SECONDS", max(2 * SWARM_LEASE_SECONDS, 600))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": SWARM_BROKER_VISIBILITY_SECONDS}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "agents:task_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

# 2 MiB for a form or JSON body: bigger ones get a clear 413, never a 500.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("SWARM_MAX_BODY_BYTES", 2 * 1024 * 1024)

X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
