"""Swarm settings: every knob is an environment variable with a safe default (see README)."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

# litellm downloads its cost map at import unless told otherwise: Swarm never needs the internet.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BASE_DIR = Path(__file__).resolve().parent.parent
from swarm_web.env import env_bool, env_float, env_git_credentials, env_hosts, env_int, env_str  # noqa: E402

DEV_SECRET_KEY = "dev-only-insecure-key-change-me-swarm-0000000000000000000000"


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
# The embedded mode is a local tool; a real deployment sets SECRET_KEY and SWARM_PRODUCTION=true.
SWARM_PRODUCTION = env_bool("SWARM_PRODUCTION", False)
if SWARM_PRODUCTION and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SWARM_PRODUCTION=true needs a SECRET_KEY of your own")

ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list host names; '*' would also let any Origin open a websocket")
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

DATA_DIR = Path(env_str("SWARM_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
WORKTREES_DIR = DATA_DIR / "worktrees"
# The only directories under which the API may register a repository (comma-separated absolute paths). Empty: none,
# the API refuses and says so. Swarm's data directory and its own checkout are refused under any root.
SWARM_REPO_ROOTS = [Path(p.strip()) for p in env_str("SWARM_REPO_ROOTS", "").split(",") if p.strip()]
if any(not root.is_absolute() for root in SWARM_REPO_ROOTS):
    raise ImproperlyConfigured("SWARM_REPO_ROOTS must list absolute paths, separated by commas")
# Repositories added by clone URL (agents/remotes.py): the hosts a URL may name (agents/hosts.py rules; empty: no
# clone at all), the credentials the operator lends them by name (the form shows the names, git gets the secret in its
# environment), the known_hosts file for ssh, and each clone's or fetch's time and size limits.
SWARM_GIT_HOSTS = env_hosts("SWARM_GIT_HOSTS")
SWARM_GIT_CREDENTIALS = env_git_credentials("SWARM_GIT_CREDENTIALS")
SWARM_GIT_KNOWN_HOSTS = env_str("SWARM_GIT_KNOWN_HOSTS", "")
SWARM_CLONE_TIMEOUT = env_float("SWARM_CLONE_TIMEOUT", 1800.0)
SWARM_CLONE_MAX_BYTES = env_int("SWARM_CLONE_MAX_BYTES", 2 * 1024**3)

# Where workers keep agents' worktrees (README, Scale-out). "shared": every process sees the same SWARM_DATA_DIR (one
# machine, or a shared mount). "local": each worker keeps its own clones and worktrees on its own disk; the web
# process keeps a bare repository per repository and serves it to workers over git's smart HTTP (agents/git_http.py),
# authenticated by SWARM_WORKER_TOKEN; workers reach it at SWARM_WEB_URL.
SWARM_WORKER_DISK = env_str("SWARM_WORKER_DISK", "shared").strip().lower()
if SWARM_WORKER_DISK not in {"shared", "local"}:
    raise ImproperlyConfigured(f"SWARM_WORKER_DISK must be shared or local, got {SWARM_WORKER_DISK!r}")
SWARM_WORKER_TOKEN = env_str("SWARM_WORKER_TOKEN", "")
SWARM_WEB_URL = env_str("SWARM_WEB_URL", "").rstrip("/")
SWARM_WORKER_NAME = env_str("SWARM_WORKER_NAME", "")  # empty: the Celery worker's node name
SWARM_GIT_MAX_BODY_BYTES = env_int("SWARM_GIT_MAX_BODY_BYTES", 512 * 1024 * 1024)  # one push or fetch request
if SWARM_WORKER_DISK == "local":
    if len(SWARM_WORKER_TOKEN) < 32:
        raise ImproperlyConfigured(
            "SWARM_WORKER_DISK=local needs SWARM_WORKER_TOKEN, a secret of 32 characters or more"
        )
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", SWARM_WEB_URL):
        raise ImproperlyConfigured("SWARM_WORKER_DISK=local needs SWARM_WEB_URL, the web process's http(s) URL")
if SWARM_WORKER_NAME and not re.fullmatch(r"[A-Za-z0-9_.@-]{1,80}", SWARM_WORKER_NAME):
    raise ImproperlyConfigured("SWARM_WORKER_NAME may hold letters, digits and _ . @ - (at most 80)")

# daphne's app (for `manage.py runserver`) imports twisted at start-up, ~30 MB in every process: a Celery worker
# serves no HTTP, so its processes go without it
IN_CELERY_WORKER = Path(sys.argv[0]).name == "celery" and "worker" in sys.argv[1:]
INSTALLED_APPS = [
    *([] if IN_CELERY_WORKER else ["daphne"]),
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_htmx",
    "channels",
    "agents",
    "judges",
    "notifications",
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
    "swarm_web.caps.PostRateLimit",  # after auth and htmx: one account's writes a minute (429 past the rate)
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
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
                "agents.context_processors.team",
                "judges.context_processors.reviews",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    import dj_database_url

    # No persistent connections (Django's advice under ASGI): each request runs in a thread of its own, so a
    # connection kept per thread piles up; measured: PostgreSQL's 100 connections gone, and 500s, at 17 writes a second
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            # Django's, with this process's writers queued on a lock rather than on SQLite's polling busy handler
            "ENGINE": "swarm_web.sqlite",
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
    # Redis pub/sub ignores database numbers: a publish on db 1 reaches subscribers on db 2. The layer's prefix names
    # the database, so deployments (and test runs) on different databases of one Redis never see each other's live
    # events (agent ids repeat between databases: their sockets would show another team's transcript).
    _redis_url = urlsplit(REDIS_URL)
    _redis_db = _redis_url.path.strip("/") or parse_qs(_redis_url.query).get("db", ["0"])[0]
    CHANNEL_LAYERS = {
        "default": {
            # pub/sub layer: 2-3x cheaper per message than the core layer (PERFORMANCE.md); the DB
            # event log stays the truth, sockets replay from it.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"swarm-db{_redis_db}"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Where agent steps run: a scheduling backend, by dotted path (agents/scheduling/), like Django's EMAIL_BACKEND.
EMBEDDED_SCHEDULER = "agents.scheduling.embedded.EmbeddedScheduler"  # steps in the web process
CELERY_SCHEDULER = "agents.scheduling.celery.CeleryScheduler"  # steps on any number of Celery workers
SWARM_SCHEDULER = env_str("SWARM_SCHEDULER", CELERY_SCHEDULER if REDIS_URL else EMBEDDED_SCHEDULER)
if os.environ.get("SWARM_EXECUTOR"):
    raise ImproperlyConfigured(
        f"SWARM_EXECUTOR is gone: set SWARM_SCHEDULER to a backend's dotted path ({EMBEDDED_SCHEDULER} or"
        f" {CELERY_SCHEDULER}), or leave it unset to choose by REDIS_URL"
    )
if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", SWARM_SCHEDULER):
    raise ImproperlyConfigured(f"SWARM_SCHEDULER must be the dotted path of a scheduler class, got {SWARM_SCHEDULER!r}")
if SWARM_SCHEDULER == CELERY_SCHEDULER and not REDIS_URL:
    raise ImproperlyConfigured(f"SWARM_SCHEDULER={CELERY_SCHEDULER} needs REDIS_URL for the broker")
if SWARM_WORKER_DISK == "local" and SWARM_SCHEDULER == EMBEDDED_SCHEDULER:
    raise ImproperlyConfigured(
        "SWARM_WORKER_DISK=local is for Celery workers; the embedded mode runs steps on its own disk"
    )
SWARM_SERVE_STATIC = env_bool("SWARM_SERVE_STATIC", True)  # daphne serves /static/ itself in the embedded mode
SWARM_STEP_DELAY = env_float("SWARM_STEP_DELAY", 0.8)  # seconds between simulated steps, keeps the demo watchable
SWARM_MAX_PARALLEL_STEPS = env_int("SWARM_MAX_PARALLEL_STEPS", 8)
SWARM_MAX_PARALLEL_VERIFICATIONS = env_int("SWARM_MAX_PARALLEL_VERIFICATIONS", 2)  # embedded: verify-queue threads
SWARM_JUDGE_AGENT_TURNS = env_int("SWARM_JUDGE_AGENT_TURNS", 12)  # model calls an investigating judge may make
SWARM_PLANNER_CYCLES = env_int("SWARM_PLANNER_CYCLES", 3)  # a planner's cycles at most (judges/cycles.py)
# a queued verification that has not started after this long is queued again (its queue was lost)
SWARM_VERIFY_WAIT_SECONDS = env_int("SWARM_VERIFY_WAIT_SECONDS", 1800)
# model calls in flight at once in one process (a call waiting for its answer holds no step slot); past it, a step
# is handed back for a moment
SWARM_INFLIGHT_PER_PROCESS = env_int("SWARM_INFLIGHT_PER_PROCESS", 1000)
SWARM_STEP_TURNS = env_int("SWARM_STEP_TURNS", 1)  # steps' own work at once per process, in order (agents/turns.py)
SWARM_SIM_LATENCY = env_float("SWARM_SIM_LATENCY", 0.0)  # seconds a simulated model takes to answer
# long-lived threads (steps, continuations, lanes, heartbeat) keep their database connection (agents/connections.py)
SWARM_DB_KEEP_CONNECTIONS = env_bool("SWARM_DB_KEEP_CONNECTIONS", True)
if SWARM_INFLIGHT_PER_PROCESS < 1 or SWARM_SIM_LATENCY < 0 or SWARM_STEP_TURNS < 0:
    raise ImproperlyConfigured(
        "SWARM_INFLIGHT_PER_PROCESS must be at least 1, SWARM_SIM_LATENCY and SWARM_STEP_TURNS at least 0"
    )
SWARM_COMMAND_TIMEOUT = env_int("SWARM_COMMAND_TIMEOUT", 120)
SWARM_OUTPUT_CAP = env_int("SWARM_OUTPUT_CAP", 64 * 1024)
# an agent's worktree quota: a command that takes it past either is killed (0: no limit)
SWARM_WORKTREE_MAX_BYTES = env_int("SWARM_WORKTREE_MAX_BYTES", 2 << 30)
SWARM_WORKTREE_MAX_FILES = env_int("SWARM_WORKTREE_MAX_FILES", 100_000)
SWARM_LEASE_SECONDS = env_int("SWARM_LEASE_SECONDS", 300)
SWARM_INVITE_DAYS = env_int("SWARM_INVITE_DAYS", 7)  # how long a team invitation link works
SWARM_SWEEP_SECONDS = env_float("SWARM_SWEEP_SECONDS", 30)  # each worker's sweep for agents whose step was lost
SWARM_REDIS_CHECK_SECONDS = env_float("SWARM_REDIS_CHECK_SECONDS", 2)  # how often Redis is checked for a loss
SWARM_SHUTDOWN_SECONDS = env_float("SWARM_SHUTDOWN_SECONDS", 5)  # on SIGTERM, how long running steps get to hand back
SWARM_STEP_OVERDUE_SECONDS = env_float("SWARM_STEP_OVERDUE_SECONDS", 60)  # a scheduled step this late is lost
SWARM_LLM_TIMEOUT = env_float("SWARM_LLM_TIMEOUT", 120)  # seconds per model call attempt (per read when streaming)
SWARM_LLM_RETRIES = env_int("SWARM_LLM_RETRIES", 4)  # retries after the first attempt on 429, 5xx, timeouts
SWARM_LLM_BACKOFF = env_float("SWARM_LLM_BACKOFF", 1.0)  # first retry's delay in seconds; doubles, with jitter
SWARM_LLM_BACKOFF_MAX = env_float("SWARM_LLM_BACKOFF_MAX", 30.0)
# stream real models' replies: "watched" (only while somebody has the agent's page open: agents/watching.py),
# true (always) or false (never); the simulator never streams
SWARM_LLM_STREAM = (
    "watched"
    if env_str("SWARM_LLM_STREAM", "watched").strip().lower() == "watched"
    else env_bool("SWARM_LLM_STREAM", True)
)
SWARM_LLM_CONTEXT_TOKENS = env_int("SWARM_LLM_CONTEXT_TOKENS", 32_000)  # context window of models litellm does not know
SWARM_LLM_MODELS_FILE = env_str("SWARM_LLM_MODELS_FILE", "")  # JSON in litellm's model_cost format: prices, windows

# Model keys and endpoints are the operator's choice, never a team member's (agents/model_access.py): the
# environment variables a model profile may take its key from, the hosts its api_base may name ("host" on the
# scheme's default port, "host:port", "host:*" for any port; empty: no api_base at all) and the providers reached
# at litellm's own endpoint for them when a profile has no api_base.
SWARM_MODEL_KEY_ENVS = [
    n.strip()
    for n in env_str(
        "SWARM_MODEL_KEY_ENVS",
        "OPENAI_API_KEY,ANTHROPIC_API_KEY,GEMINI_API_KEY,MISTRAL_API_KEY,GROQ_API_KEY,DEEPSEEK_API_KEY,"
        "OPENROUTER_API_KEY,TOGETHERAI_API_KEY,XAI_API_KEY",
    ).split(",")
    if n.strip()
]
SWARM_MODEL_HOSTS = env_hosts("SWARM_MODEL_HOSTS")
SWARM_MODEL_PROVIDERS = [
    p.strip()
    for p in env_str(
        "SWARM_MODEL_PROVIDERS", "openai,anthropic,gemini,mistral,groq,deepseek,openrouter,together_ai,xai"
    ).split(",")
    if p.strip()
]
for _name in SWARM_MODEL_KEY_ENVS:
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", _name):
        raise ImproperlyConfigured(f"SWARM_MODEL_KEY_ENVS lists environment variable names; {_name!r} is not one")

# Telling people and e-mail: swarm_web/settings_notify.py
from swarm_web.settings_notify import *  # noqa: E402, F403

CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu's Redis transport with a worker that survives Redis going away (swarm_web/broker.py)
CELERY_BROKER_TRANSPORT = "swarm_web.broker:Transport" if REDIS_URL else None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes a pool child's connections around every task unless told to reuse them: the step
# and job tasks end with agents.connections.done() instead, which keeps a healthy one (SWARM_DB_KEEP_CONNECTIONS)
CELERY_DB_REUSE_MAX = 10**6 if SWARM_DB_KEEP_CONNECTIONS else None
# Three queues (agents/scheduling): a plain `celery -A swarm_web worker` serves them all; `-Q verify` serves one
CELERY_TASK_QUEUES = [Queue("steps"), Queue("verify"), Queue("housekeeping")]
CELERY_TASK_DEFAULT_QUEUE = "steps"
CELERY_TASK_ROUTES = {"agents.step": {"queue": "steps"}, "agents.sweep": {"queue": "housekeeping"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis hands an unacknowledged step to another worker after this long (a killed worker's steps come back).
SWARM_BROKER_VISIBILITY_SECONDS = env_int("SWARM_BROKER_VISIBILITY_SECONDS", max(2 * SWARM_LEASE_SECONDS, 600))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": SWARM_BROKER_VISIBILITY_SECONDS}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins and API tokens are counted by django-axes (in the database, so every process sees them). A lockout
# covers one account from one address, and one address for every account: nobody can lock a colleague out from
# elsewhere, and one address cannot try many accounts. Counts lapse after the cool-off.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("SWARM_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("SWARM_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
# Behind N reverse proxies every request comes from the nearest proxy: count failures per client, which the
# N-th address from the right of X-Forwarded-For names (the proxies append it; anything left of it is the client's).
SWARM_PROXY_COUNT = env_int("SWARM_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "swarm_web.middleware.client_address"
AXES_LOCKOUT_CALLABLE = "swarm_web.middleware.lockout_response"  # JSON for the API, a page for a browser
AXES_RESET_ON_SUCCESS = False  # else a login to one's own account would clear the address's count
AXES_VERBOSE = False
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

# 2 MiB for any request body: a bigger one gets a clear 413 before it is read (swarm_web/middleware.py).
SWARM_MAX_BODY_BYTES = env_int("SWARM_MAX_BODY_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SWARM_MAX_BODY_BYTES

# Per-account caps (swarm_web/caps.py), counted in Redis over every process when REDIS_URL is set: open websockets
# (one more is closed with 4429), and writes a minute (429 with Retry-After past the rate; 0 turns either off).
# A watcher of a task's overview gets the cards that changed as one frame at most this often (agents/live_send.py);
# the agent page still gets every event at once.
SWARM_OVERVIEW_INTERVAL = env_float("SWARM_OVERVIEW_INTERVAL", 0.3)
if not 0 < SWARM_OVERVIEW_INTERVAL <= 5:
    raise ImproperlyConfigured("SWARM_OVERVIEW_INTERVAL must be more than 0 and at most 5 seconds")
SWARM_WS_PER_USER = env_int("SWARM_WS_PER_USER", 20)
SWARM_WS_SLOT_SECONDS = env_float("SWARM_WS_SLOT_SECONDS", 30)  # a crashed process's sockets stop counting after this
SWARM_POST_RATE = env_int("SWARM_POST_RATE", 300)
SWARM_CAPS_PREFIX = env_str("SWARM_CAPS_PREFIX", "swarm:caps:")  # Redis key prefix of those counts
SWARM_RATE_BURST = env_int("SWARM_RATE_BURST", 1)  # calls of one profile allowed back to back under its rate limit
if SWARM_WS_SLOT_SECONDS < 3:
    raise ImproperlyConfigured("SWARM_WS_SLOT_SECONDS must be at least 3 (slots are refreshed every third of it)")

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

# Behind a TLS proxy (SWARM_PRODUCTION=true): HTTPS only, secure cookies, HSTS. The proxy must set X-Forwarded-Proto
# and drop any the client sent. `manage.py check --deploy` passes with these and swarm_web/checks.py adds the rest.
if SWARM_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SWARM_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SWARM_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "LiteLLM": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
