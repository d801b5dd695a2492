"""Real models: agents driven through litellm against a real local OpenAI-compatible HTTP server, from the first
step to the verdict; what they see of errors, rate limits, prices and the context window, and no key shown."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from agents import conversations, llm
from agents.models import Agent, Event
from agents.simulator import DEMO_FIX
from judges.models import Verdict
from tests import factories
from tests.factories import run_until_idle
from tests.openai_server import malformed, reply, status
from tests.real_models import launch_one, messages_for, profile_for
from tests.unit import builders

pytestmark = pytest.mark.usefixtures("quick_retries")


@pytest.fixture
def debug_logs(caplog):
    for name in (None, "LiteLLM", "openai", "httpx", "httpcore", "agents"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_secret_absent(secret: str, agent: Agent | None, caplog, *texts: str) -> None:
    places = {"texts": "\n".join(texts), "logs": caplog.text + "\n".join(r.getMessage() for r in caplog.records)}
    if agent is not None:
        places["agent row"] = json.dumps(list(Agent.objects.filter(pk=agent.pk).values()), default=str)
        places["events"] = json.dumps(list(Event.objects.filter(agent=agent).values()), default=str)
        places["verdicts"] = json.dumps(list(Verdict.objects.filter(agent=agent).values()), default=str)
    for where, text in places.items():
        assert secret not in text, f"the API key leaked into {where}"


def test_an_agent_on_a_real_model_server_fixes_the_bug_and_waits_for_review(demo, server, canary, debug_logs):
    agent = launch_one(demo, server)
    server.script(
        reply("Reading mathutil.py before I change it.", ("read_file", {"path": "mathutil.py"})),
        reply("mean() divides by n-1.", ("edit_file", DEMO_FIX)),
        reply("Running the verify command.", ("run_command", {"command": "python -m pytest -q"})),
        reply("The suite passes; submitting.", ("submit", {"summary": "mean() divided by n-1; it now divides by n."})),
    )

    run_until_idle([agent])

    agent.refresh_from_db()
    assert agent.status == Agent.Status.AWAITING_REVIEW, agent.status_reason
    verdict = Verdict.objects.get(agent=agent)
    assert verdict.recommendation == Verdict.Recommendation.APPROVE
    assert "passed" in verdict.evidence["verify"]["output"]
    assert agent.steps == 4 and agent.tokens_in == 400 and agent.tokens_out == 80
    assert agent.cost_usd == Decimal("0.000560")  # 4 x (100 x 1e-6 + 20 x 2e-6)

    assert len(server.requests) == 4
    first = server.requests[0].body
    system = first["messages"][0]
    assert system["role"] == "system" and "You are Hopper" in system["content"]
    assert "Budget: you have 30 of 30 minutes left" in system["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"read_file", "edit_file", "run_command", "submit"}
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    tool_results = [m["content"] for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert any("def mean(values):" in r for r in tool_results)
    last_results = [m["content"] for m in server.requests[3].body["messages"] if m["role"] == "tool"]
    assert "passed" in last_results[-1]

    assert all(r.headers["authorization"] == f"Bearer {canary}" for r in server.requests)
    assert_secret_absent(canary, agent, debug_logs)


def test_provider_errors_never_show_the_api_key(demo, server, canary, debug_logs):
    agent = launch_one(demo, server)
    server.script(status(401, f"Incorrect API key provided: {canary}. See https://x.test/v1?key={canary}"))

    factories.run_step(agent.pk)

    agent.refresh_from_db()
    assert agent.status == Agent.Status.ERROR
    assert agent.status_reason.startswith("model call failed: refused (401)")
    assert "Incorrect API key provided" in agent.status_reason
    assert len(server.requests) == 1  # a client error is not retried
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    assert_secret_absent(canary, agent, debug_logs)

    server.script(*[status(500, f"upstream said {canary}")] * 3)
    with pytest.raises(llm.ModelError) as failed:
        llm.complete(profile_for(server), messages_for(), [])
    assert "server error (500) (3 attempts)" in str(failed.value)
    assert_secret_absent(canary, None, debug_logs, str(failed.value), repr(failed.value))


def test_a_malformed_reply_puts_the_agent_in_error_with_a_readable_reason(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(malformed(), malformed(), malformed())

    assert factories.run_step(agent.pk) is None

    agent.refresh_from_db()
    assert agent.status == Agent.Status.ERROR
    assert agent.status_reason.startswith("model call failed: the reply was not valid JSON (3 attempts)")
    assert len(server.requests) == 3
    shown = agent.events.filter(kind="status").order_by("seq").last().payload
    assert shown["status"] == "error" and "not valid JSON" in shown["reason"]


def test_two_priced_calls_add_up_exactly_in_the_agents_cost(demo, server, canary, settings):
    agent = launch_one(demo, server)
    server.script(
        reply("Looking around.", ("list_files", {"path": "."}), usage=(1000, 500)),
        reply("Reading the code.", ("read_file", {"path": "mathutil.py"}), usage=(2000, 250)),
    )

    factories.run_step(agent.pk)  # streamed
    settings.SWARM_LLM_STREAM = False
    factories.run_step(agent.pk)  # one JSON reply

    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING
    assert agent.cost_usd == Decimal("0.0045")  # 0.001 + 0.001 + 0.002 + 0.0005
    assert (agent.tokens_in, agent.tokens_out) == (3000, 750)
    costs = [e.payload["cost_usd"] for e in agent.events.filter(kind="model_turn").order_by("seq")]
    assert costs == pytest.approx([0.002, 0.0025])
    assert [r.body.get("stream", False) for r in server.requests] == [True, False]


def test_a_rate_limited_agent_shows_the_wait_in_its_transcript_and_carries_on(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(
        status(429, "slow down", headers={"Retry-After": "1"}),
        reply("Looking around.", ("list_files", {"path": "."})),
    )
    factories.run_step(agent.pk)
    retry = agent.events.get(kind="retry")
    assert retry.payload["seconds"] == pytest.approx(1, abs=0.5)
    assert "429" in retry.payload["reason"] or "rate" in retry.payload["reason"].lower()
    assert agent.events.filter(kind="tool_call", payload__tool="list_files").exists()
    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING


def test_announcing_a_stop_alongside_a_tool_call_still_gets_a_nudge(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(reply("One last look, then I'll stop here to save tokens.", ("list_files", {"path": "."})))
    factories.run_step(agent.pk)
    agent.refresh_from_db()
    assert agent.nudges == 1
    assert agent.events.get(kind="nudge").payload["reason"] == "announced it would stop"


def test_near_the_context_window_old_tool_output_is_compacted_and_the_transcript_says_so(demo, server, canary):
    agent = launch_one(demo, server)
    # earlier steps read big files: 3 outputs of 20,000 characters against a window of 8,000 tokens
    history = []
    for i in range(3):
        call = {"id": f"old-{i}", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
        history += [
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"old-{i}", "content": f"line {i}\n" * 2500},
        ]
    builders.conversation(agent.pk, history)
    server.script(reply("Carrying on.", ("list_files", {"path": "."})))
    factories.run_step(agent.pk)
    compaction = agent.events.get(kind="compaction")
    assert compaction.seq < agent.events.get(kind="model_turn").seq
    sent = server.requests[0].raw
    assert len(sent) < 60_000  # what reached the model fits its window
    assert "this tool output had 2,500 lines" in sent
    stored = conversations.load(agent.pk)  # the compacted outputs are what the next step loads
    assert stored[1]["content"].startswith("[compacted by Swarm") and len(stored) == len(history) + 2
    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING
