"""Provider rate limits shared by every process (agents/llm/ratelimit.py): a profile's requests per minute hold
across threads, processes and agents, and an agent that waits for its slot says so on its card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agents import llm
from agents.llm import ratelimit
from agents.models import Event, ModelProfile
from tests import factories
from tests.openai_server import reply
from tests.real_models import launch_one, messages_for, profile_for

REDIS = "redis://127.0.0.1:6379/8"  # a database no other test flushes (test_live_replay flushes 11-13)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    """Where the schedule lives: this process's memory (embedded) or Redis (shared by every worker)."""
    settings.REDIS_URL = REDIS if request.param == "redis" else ""
    settings.SWARM_CAPS_PREFIX = f"{settings.SWARM_CAPS_PREFIX}{request.node.name}:"
    return request.param


def test_calls_of_one_profile_from_many_threads_are_spaced_by_its_limit(store, server, canary, settings):
    settings.SWARM_RATE_BURST = 1
    server.script(*[reply(f"answer {i}") for i in range(4)])
    profile = profile_for(server)
    profile.pk, profile.requests_per_minute = 10_001, 240  # one call every 0.25 s
    arrived: list[float] = []
    waits: list[tuple[float, str]] = []

    def call() -> None:
        llm.complete(profile, messages_for(), [], on_wait=lambda s, r: waits.append((s, r)))
        arrived.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(server.requests) == 4
    # four calls at 240 a minute: the last may start no sooner than 0.75 s after the first
    assert max(arrived) - started >= 0.7
    assert any("rate limit of test-openai" in reason for _, reason in waits)


def test_two_processes_share_one_schedule_through_redis(settings, tmp_path):
    """Two worker processes reserve slots of one profile: together they keep to its limit."""
    prefix = f"swarm-test-{os.getpid()}:shared:"
    script = (
        "import django, json, sys; django.setup()\n"
        "from agents.llm import ratelimit\n"
        "from agents.models import ModelProfile\n"
        "p = ModelProfile(pk=10_002, name='shared', requests_per_minute=6)\n"
        "import time\n"
        "print(json.dumps([time.time() + ratelimit.reserve(p) for _ in range(5)]))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": REDIS,
        "SWARM_TEST_CAPS_PREFIX": prefix,
        "SWARM_RATE_BURST": "1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    slots = sorted(t for proc in procs for t in json.loads(proc.communicate(timeout=300)[0]))
    # ten reservations at 6 a minute (nobody waits for them here), by two processes (one host, one clock):
    # whenever each started, no two of the calls they may make are closer than 10 s (less a second for the
    # reading of the clock on a busy machine); each process alone would have given out its own slots at 0, 10, ...
    assert len(slots) == 10
    assert min(b - a for a, b in zip(slots, slots[1:], strict=False)) >= 9


def test_no_limit_means_no_wait(store):
    profile = ModelProfile(pk=10_003, name="free", requests_per_minute=None)
    assert [ratelimit.reserve(profile) for _ in range(5)] == [0.0] * 5


def test_an_agent_waiting_for_its_profiles_slot_says_so_on_its_card(demo, server, canary, settings):
    settings.REDIS_URL = ""
    settings.SWARM_RATE_BURST = 1
    server.script(*[reply("Reading first.", ("read_file", {"path": "mathutil.py"})) for _ in range(2)])
    hopper = launch_one(demo, server)
    ModelProfile.objects.filter(name="test-openai").update(requests_per_minute=20)  # one call every 3 s
    factories.run_step(hopper.pk)  # a model call and the read_file it asks for
    assert ratelimit.reserve(ModelProfile.objects.get(name="test-openai")) < 3.1  # another agent's call, just now
    factories.run_step(hopper.pk)  # so Hopper's next call waits its turn, about 3 s
    waits = Event.objects.filter(agent=hopper, kind="retry")
    assert waits.exists()
    assert "rate limit of test-openai" in waits.last().payload["reason"]
    assert len(server.requests) == 2
