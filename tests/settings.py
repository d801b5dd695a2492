"""Test settings: the app's own settings with a throwaway data dir and steps driven by the tests."""

import os
import tempfile
import uuid

# Each test process (pytest, or each pytest-xdist worker, which inherits its controller's environment) gets a data
# dir and a channel-layer prefix of its own; the processes a test starts inherit them from the environment.
_process = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... in an xdist worker
if os.environ.get("SWARM_TEST_PROCESS") != _process:
    if "SWARM_TEST_PROCESS" in os.environ:  # an xdist worker: the controller's data dir is not its own
        os.environ["SWARM_DATA_DIR"] = os.path.join(os.environ["SWARM_DATA_DIR"], _process)
    os.environ["SWARM_TEST_PROCESS"] = _process
    os.environ["SWARM_TEST_CHANNEL_PREFIX"] = f"asgi-test-{uuid.uuid4().hex[:12]}"
os.environ.setdefault("SWARM_DATA_DIR", tempfile.mkdtemp(prefix="swarm-test-"))
os.environ.setdefault("SWARM_SCHEDULER", "agents.scheduling.manual.ManualScheduler")
os.environ.setdefault("SWARM_STEP_DELAY", "0")

from swarm_web.settings import *  # noqa: E402,F403

# The operator's choices for model calls in tests (README, Security): the local OpenAI-protocol test servers listen
# on 127.0.0.1 at a free port, and their fake keys are in these two variables.
SWARM_MODEL_HOSTS = ["127.0.0.1:*"]
SWARM_MODEL_KEY_ENVS = [*SWARM_MODEL_KEY_ENVS, "SWARM_TEST_KEY", "ACME_API_KEY"]  # noqa: F405

# Per-process Redis keys for the per-account caps and rate limits, so parallel test runs sharing a Redis never count
# each other (a test that starts processes meant to share them names one prefix for all).
SWARM_CAPS_PREFIX = os.environ.get("SWARM_TEST_CAPS_PREFIX") or f"swarm-test-{os.getpid()}:caps:"

# On Redis (REDIS_URL set), pub/sub channels are global to the server whatever the database number, and every test
# database has agents with the same ids: the prefix keeps one process's events from another's sockets.
if CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["SWARM_TEST_CHANNEL_PREFIX"]  # noqa: F405

# Tests make hundreds of accounts: PBKDF2's 1.5 million iterations cost ~0.5 s of CPU per password, so the test
# process hashes with MD5, as Django advises for tests. The apps the tests start as subprocesses (browser, restarts,
# scale-out) keep the real hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# On PostgreSQL, the test process's sessions do not wait for the WAL to reach the disk at each commit (~10 ms each
# on CI's disk, ~1 ms without): what a commit makes visible, and when, is the same; only a crash could lose the
# last commits of a throwaway test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    _options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    _options["options"] = f"{_options.get('options', '')} -c synchronous_commit=off".strip()
