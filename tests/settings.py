"""Test settings: the app's own settings with a throwaway data dir and steps driven by the tests."""

import os
import tempfile

os.environ.setdefault("SWARM_DATA_DIR", tempfile.mkdtemp(prefix="swarm-test-"))
os.environ.setdefault("SWARM_SCHEDULER", "agents.scheduling.manual.ManualScheduler")
os.environ.setdefault("SWARM_STEP_DELAY", "0")

from swarm_web.settings import *  # noqa: E402,F403

# The operator's choices for model calls in tests (README, Security): the local OpenAI-protocol test servers listen
# on 127.0.0.1 at a free port, and their fake keys are in these two variables.
SWARM_MODEL_HOSTS = ["127.0.0.1:*"]
SWARM_MODEL_KEY_ENVS = [*SWARM_MODEL_KEY_ENVS, "SWARM_TEST_KEY", "ACME_API_KEY"]  # noqa: F405

# Per-process Redis keys for the per-account caps, so parallel test runs sharing a Redis never count each other.
SWARM_CAPS_PREFIX = f"swarm-test-{os.getpid()}:caps:"
