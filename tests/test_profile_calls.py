"""What a model profile's own figures and its "Test connection" do on the real model-call path (agents/llm),
against the local OpenAI-protocol server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents import llm
from agents.models import Agent
from tests import factories
from tests.openai_server import reply, status
from tests.real_models import launch_one, profile_for


@pytest.fixture(autouse=True)
def one_quick_attempt(settings):
    settings.SWARM_LLM_RETRIES = 0
    settings.SWARM_LLM_TIMEOUT = 5


def test_a_profiles_own_prices_and_window_override_litellms(demo, server, canary):
    agent = launch_one(demo, server)
    profile = agent.profile
    # litellm knows openai/test-model (tests/test_llm.py registers it): 1e-6 and 2e-6 USD a token, 8,000 tokens
    assert llm.context_budget(profile) == 6000
    profile.input_usd_per_mtok, profile.output_usd_per_mtok, profile.context_window = Decimal(3), Decimal(15), 100_000
    profile.save()
    assert llm.context_budget(profile) == 75_000  # 3/4 of the profile's window

    server.script(reply("Looking around.", ("list_files", {"path": "."}), usage=(1000, 500)))
    factories.run_step(agent.pk)

    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING
    assert agent.cost_usd == Decimal("0.010500")  # 1,000 x 3/1M + 500 x 15/1M, not litellm's 0.002


def test_only_an_input_price_still_prices_the_call_by_the_profile(server, canary):
    profile = profile_for(server)
    profile.input_usd_per_mtok = Decimal("0.5")
    server.script(reply("hi", usage=(2000, 100)))
    turn = llm.complete(profile, [{"role": "user", "content": "hi"}], [])
    assert turn.cost_usd == pytest.approx(0.001)  # the output price is taken as 0, not litellm's


def test_a_probe_makes_one_small_call_and_returns_the_answer(server, canary):
    server.script(reply("Connection works."))
    turn = llm.probe(profile_for(server))
    assert turn.content == "Connection works."
    (sent,) = server.requests
    assert sent.body["max_tokens"] == 40 and not sent.body.get("stream")
    assert [m["role"] for m in sent.body["messages"]] == ["user"]
    assert sent.headers["authorization"] == f"Bearer {canary}"


def test_a_probe_masks_a_key_the_server_echoes_in_its_answer(server, canary):
    server.script(reply(f"You sent me {canary}."))
    assert llm.probe(profile_for(server)).content == "You sent me [redacted]."


def test_a_probe_is_not_retried_and_its_error_never_shows_the_key(server, canary, settings):
    settings.SWARM_LLM_RETRIES = 3  # the agents' retries do not apply: a person is waiting
    server.script(status(401, f"Incorrect API key provided: {canary}"), reply("too late"))
    with pytest.raises(llm.ModelError) as failed:
        llm.probe(profile_for(server))
    assert len(server.requests) == 1
    message = str(failed.value)
    assert "Incorrect API key provided" in message and "[redacted]" in message
    assert canary not in message
