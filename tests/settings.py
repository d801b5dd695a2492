"""Test settings: the app's own settings with a throwaway data dir and steps driven by the tests."""

import os
import tempfile

os.environ.setdefault("SWARM_DATA_DIR", tempfile.mkdtemp(prefix="swarm-test-"))
os.environ.setdefault("SWARM_EXECUTOR", "manual")
os.environ.setdefault("SWARM_STEP_DELAY", "0")

from swarm_web.settings import *  # noqa: E402,F403
