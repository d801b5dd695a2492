"""A model call streams its text only while somebody has the agent's page open (SWARM_LLM_STREAM=watched, the
default): streaming costs litellm several times the CPU of a plain reply, and only a watcher sees the text as it
comes. The agent page's socket joins the agent's group on the channel layer; that membership is what is asked."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer

from agents import events, live_send, watching
from agents.models import Event
from tests import factories
from tests.openai_server import reply
from tests.real_models import launch_one

REDIS = "redis://127.0.0.1:6379/8"
MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def test_an_unwatched_agent_gets_a_plain_reply_and_a_watched_one_a_streamed_one(demo, server, canary, settings):
    settings.SWARM_LLM_STREAM = "watched"
    settings.CHANNEL_LAYERS = MEMORY
    agent = launch_one(demo, server)
    server.script(
        reply("Looking around first.", ("list_files", {"path": "."})),
        reply("Now reading the code.", ("read_file", {"path": "mathutil.py"})),
    )

    factories.run_step(agent.pk)  # nobody on its page
    layer = get_channel_layer()
    async_to_sync(layer.group_add)(events.agent_group(agent.pk), "watcher.page")  # what the page's socket does
    try:
        factories.run_step(agent.pk)
    finally:
        async_to_sync(layer.group_discard)(events.agent_group(agent.pk), "watcher.page")

    assert [r.body.get("stream", False) for r in server.requests] == [False, True]
    # both turns are stored whole either way: the transcript does not depend on whether somebody watched
    turns = [e.payload["text"] for e in Event.objects.filter(agent=agent, kind="model_turn").order_by("seq")]
    assert turns == ["Looking around first.", "Now reading the code."]


@pytest.mark.parametrize("mode,expected", [(True, True), (False, False)])
def test_true_and_false_stream_always_and_never(demo, server, canary, settings, mode, expected):
    settings.SWARM_LLM_STREAM = mode
    settings.CHANNEL_LAYERS = MEMORY
    agent = launch_one(demo, server)
    server.script(reply("Looking around first.", ("list_files", {"path": "."})))
    factories.run_step(agent.pk)
    assert [r.body.get("stream", False) for r in server.requests] == [expected]


def test_on_redis_a_group_with_a_socket_in_any_web_process_counts_as_watched(settings):
    """Distributed: the worker asks Redis (PUBSUB NUMSUB) whether a web process has a socket in the agent's group."""
    prefix = f"swarm-test-watch-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = REDIS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": prefix},
        }
    }

    async def scenario():
        web = RedisPubSubChannelLayer(hosts=[REDIS], prefix=prefix)  # a web process's layer
        channel = await web.new_channel()
        group = events.agent_group(41)
        before = await asyncio.to_thread(watching.watched, 41)
        await web.group_add(group, channel)
        # Redis takes the SUBSCRIBE after group_add returned: the socket's consumer waits for it, as here
        counted = await live_send.until_watched(group, 5.0)
        during = await asyncio.to_thread(watching.watched, 41)
        other = await asyncio.to_thread(watching.watched, 42)
        await web.group_discard(group, channel)
        deadline = time.monotonic() + 5
        while (after := await asyncio.to_thread(watching.watched, 41)) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await web.flush()
        return before, counted, during, other, after

    assert asyncio.run(scenario()) == (False, True, True, False, False)


def test_when_redis_cannot_be_asked_the_call_streams(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL]},
        }
    }
    assert watching.watched(7) is True


def test_a_redis_that_does_not_answer_is_not_asked_again_at_every_commit(settings):
    """Every commit asks whether its agent is watched: a Redis that takes its timeout is left alone for a while (the
    groups count as watched meanwhile), not waited for by each step."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()) for _ in range(50)], daemon=True).start()
    settings.REDIS_URL = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"  # accepts, never answers
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL]},
        }
    }
    try:
        assert watching.watched(7) is True
        asked = len(accepted)
        assert asked >= 1
        assert [watching.watched(8), watching.watched(9)] == [True, True]
        assert len(accepted) == asked, "asked again at once"
    finally:
        listener.close()
