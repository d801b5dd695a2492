"""Real models: agents driven through litellm against a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from agents import conversations, llm, runtime, services, tools
from agents.models import Agent, Event, ModelProfile, TaskSpec
from agents.simulator import DEMO_FIX
from judges.models import Verdict
from tests.factories import run_until_idle
from tests.openai_server import hang, malformed, reply, status

INPUT_PRICE, OUTPUT_PRICE = 1e-6, 2e-6
llm.register_models(
    {
        "openai/test-model": {
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            "max_input_tokens": 8000,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": True,
        },
        "openai/plain-model": {
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": False,
        },
    }
)


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.SWARM_LLM_RETRIES = 2
    settings.SWARM_LLM_BACKOFF = 0.01
    settings.SWARM_LLM_BACKOFF_MAX = 0.05
    settings.SWARM_LLM_TIMEOUT = 5
    settings.SWARM_LLM_STREAM = True


@pytest.fixture
def debug_logs(caplog):
    for name in (None, "LiteLLM", "openai", "httpx", "httpcore", "agents"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def profile_for(server, model: str = "openai/test-model", team=None) -> ModelProfile:
    profile = ModelProfile(
        name="test-openai", model=model, api_base=server.base_url, api_key_env="SWARM_TEST_KEY", family="test"
    )
    if team is not None:
        profile.team = team
        profile.save()
    return profile


def launch_one(demo, server, name: str = "Hopper") -> Agent:
    """A task on the demo repository with one agent on the test server's model."""
    team, demo_task = demo
    profile_for(server, team=team)
    task = TaskSpec.objects.create(
        team=team,
        repo=demo_task.repo,
        title="Fix mean() with a real model",
        goal=demo_task.goal,
        verify_command="python -m pytest -q",
        budget_minutes=30,
        budget_tokens=200_000,
        budget_usd=2,
        roster=[{"name": name, "profile": "test-openai"}],
    )
    (agent,) = services.launch_task(task)
    return agent


def messages_for(prompt: str = "Say something.") -> list[dict]:
    return [{"role": "system", "content": "You are Hopper."}, {"role": "user", "content": prompt}]


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

    runtime.run_step(agent.pk)

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


def test_streamed_text_arrives_in_chunks_and_reaches_on_text_coalesced(server, canary):
    text = "I read mathutil.py and the divisor in mean() is off by one, so I will fix that next."
    server.script(reply(text, usage=(321, 45), chunk_size=3, pause=0.04))
    seen: list[str] = []

    turn = llm.complete(profile_for(server), messages_for(), [], on_text=seen.append)

    chunks = -(-len(text) // 3)
    assert turn.content == text
    assert 2 <= len(seen) < chunks
    assert seen[-1] == text
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:], strict=False))
    assert (turn.tokens_in, turn.tokens_out) == (321, 45)  # from the usage chunk
    assert turn.cost_usd == pytest.approx(321 * INPUT_PRICE + 45 * OUTPUT_PRICE)


def test_a_rate_limit_is_waited_out_for_as_long_as_retry_after_says(server, canary):
    server.script(status(429, "slow down", headers={"Retry-After": "1"}), reply("Back again."))
    waits: list[tuple[float, str]] = []
    started = time.monotonic()

    turn = llm.complete(profile_for(server), messages_for(), [], on_wait=lambda s, r: waits.append((s, r)))

    assert turn.content == "Back again."
    assert len(server.requests) == 2
    assert len(waits) == 1
    seconds, reason = waits[0]
    assert seconds == pytest.approx(1.0, abs=0.05) and "429" in reason
    assert time.monotonic() - started >= 0.95


def test_two_server_errors_are_retried_then_the_call_succeeds(server, canary, settings):
    settings.SWARM_LLM_STREAM = False
    server.script(status(500, "boom"), status(503, "busy"), reply("Third time lucky."))
    waits: list[tuple[float, str]] = []

    turn = llm.complete(profile_for(server), messages_for(), [], on_wait=lambda s, r: waits.append((s, r)))

    assert turn.content == "Third time lucky."
    assert len(server.requests) == 3
    assert [r for _, r in waits] == ["server error (500)", "server error (503)"]
    assert all(0 < s <= 0.05 for s, _ in waits)


def test_a_hanging_server_times_out_and_fails_after_the_retries(server, canary, settings):
    settings.SWARM_LLM_TIMEOUT = 0.5
    server.script(hang(5), hang(5), hang(5))
    started = time.monotonic()

    with pytest.raises(llm.ModelError) as failed:
        llm.complete(profile_for(server), messages_for(), [])

    assert str(failed.value).startswith("timed out after 0.5 s (3 attempts)")
    assert len(server.requests) == 3
    assert time.monotonic() - started < 4


def test_a_malformed_reply_puts_the_agent_in_error_with_a_readable_reason(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(malformed(), malformed(), malformed())

    assert runtime.run_step(agent.pk) is None

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

    runtime.run_step(agent.pk)  # streamed
    settings.SWARM_LLM_STREAM = False
    runtime.run_step(agent.pk)  # one JSON reply

    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING
    assert agent.cost_usd == Decimal("0.0045")  # 0.001 + 0.001 + 0.002 + 0.0005
    assert (agent.tokens_in, agent.tokens_out) == (3000, 750)
    costs = [e.payload["cost_usd"] for e in agent.events.filter(kind="model_turn").order_by("seq")]
    assert costs == pytest.approx([0.002, 0.0025])
    assert [r.body.get("stream", False) for r in server.requests] == [True, False]


def test_broken_tool_call_arguments_become_a_refusal_not_a_crash(server, canary):
    server.script(reply("Reading.", ("read_file", '{"path": "mathutil.py"')))

    turn = llm.complete(profile_for(server), messages_for(), tools.TOOLS)

    (call,) = turn.tool_calls
    assert call.name == "read_file" and call.arguments == {}
    assert "not valid JSON" in call.error


def test_a_model_without_native_tools_uses_the_text_protocol(server, canary):
    profile = profile_for(server, model="openai/plain-model")
    server.script(
        reply(
            "I will read the module first.\n"
            '<tool_call>{"name": "read_file", "arguments": {"path": "mathutil.py"}}</tool_call>\n'
            "<tool_call>{not json}</tool_call>"
        ),
        reply("Done reading."),
    )

    turn = llm.complete(profile, messages_for("Fix mean()."), tools.TOOLS)

    assert turn.content == "I will read the module first."
    good, broken = turn.tool_calls
    assert (good.name, good.arguments, good.error) == ("read_file", {"path": "mathutil.py"}, "")
    assert "not valid JSON" in broken.error
    sent = server.requests[0].body
    assert "tools" not in sent
    assert (
        "<tool_call>" in sent["messages"][0]["content"] and "- read_file(path: string" in sent["messages"][0]["content"]
    )

    conversation = [
        *messages_for("Fix mean()."),
        turn.as_message(),
        {"role": "tool", "tool_call_id": good.id, "content": "def mean(values): ..."},
    ]
    assert llm.complete(profile, conversation, tools.TOOLS).content == "Done reading."
    replayed = server.requests[1].body["messages"]
    assert [m["role"] for m in replayed] == ["system", "user", "assistant", "user"]
    assert '"name": "read_file"' in replayed[2]["content"]
    assert replayed[3]["content"].startswith(f"[tool result {good.id} read_file]\ndef mean(values)")


def test_a_text_tools_suffix_forces_the_text_protocol_on_any_model(server, canary):
    server.script(reply('<tool_call>{"name": "list_files", "arguments": {}}</tool_call>'))

    turn = llm.complete(profile_for(server, model="openai/test-model#text-tools"), messages_for(), tools.TOOLS)

    assert [c.name for c in turn.tool_calls] == ["list_files"] and turn.content == ""
    assert server.requests[0].body["model"] == "test-model" and "tools" not in server.requests[0].body


def test_a_missing_api_key_variable_is_named_without_calling_the_server(server, monkeypatch):
    monkeypatch.delenv("SWARM_TEST_KEY", raising=False)

    with pytest.raises(llm.ModelError, match="SWARM_TEST_KEY .* is not set"):
        llm.complete(profile_for(server), messages_for(), [])
    assert server.requests == []


def test_a_hook_that_fails_stops_the_call_instead_of_being_retried(server, canary):
    server.script(status(500, "boom"), reply("never reached"))

    def lease_lost(seconds, reason):
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError, match="lease lost"):
        llm.complete(profile_for(server), messages_for(), [], on_wait=lease_lost)
    assert len(server.requests) == 1


def test_compaction_shortens_old_tool_outputs_and_keeps_the_latest(server):
    output = "\n".join(f"line {i}: " + "x" * 40 for i in range(200))
    messages = messages_for("Fix mean().")
    for i in range(8):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "run_command", "arguments": "{}"}}
        messages.append({"role": "assistant", "content": f"step {i}", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": output})
    before = json.dumps(messages)
    limit = llm.estimate_tokens(messages) // 2

    compacted, changed = llm.compact(messages, limit)

    assert changed and llm.estimate_tokens(compacted) <= limit
    assert json.dumps(messages) == before  # the caller's list is untouched
    assert len(compacted) == len(messages)
    results = [m for m in compacted if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == [f"call_{i}" for i in range(8)]
    assert results[0]["content"].startswith(llm.COMPACTED_MARK)
    assert "line 0:" in results[0]["content"] and "line 199:" in results[0]["content"]
    assert results[-1]["content"] == output
    assert [m for m in compacted if m["role"] != "tool"] == [m for m in messages if m["role"] != "tool"]
    assert llm.compact(compacted, llm.estimate_tokens(compacted)) == (compacted, False)
    assert llm.context_budget(profile_for(server)) == 6000  # 3/4 of the registered 8,000-token window


def test_a_rate_limited_agent_shows_the_wait_in_its_transcript_and_carries_on(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(
        status(429, "slow down", headers={"Retry-After": "1"}),
        reply("Looking around.", ("list_files", {"path": "."})),
    )
    runtime.run_step(agent.pk)
    retry = agent.events.get(kind="retry")
    assert retry.payload["seconds"] == pytest.approx(1, abs=0.5)
    assert "429" in retry.payload["reason"] or "rate" in retry.payload["reason"].lower()
    assert agent.events.filter(kind="tool_call", payload__tool="list_files").exists()
    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING


def test_announcing_a_stop_alongside_a_tool_call_still_gets_a_nudge(demo, server, canary):
    agent = launch_one(demo, server)
    server.script(reply("One last look, then I'll stop here to save tokens.", ("list_files", {"path": "."})))
    runtime.run_step(agent.pk)
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
    conversations.replace(agent.pk, history)
    server.script(reply("Carrying on.", ("list_files", {"path": "."})))
    runtime.run_step(agent.pk)
    compaction = agent.events.get(kind="compaction")
    assert compaction.seq < agent.events.get(kind="model_turn").seq
    sent = server.requests[0].raw
    assert len(sent) < 60_000  # what reached the model fits its window
    assert "this tool output had 2,500 lines" in sent
    stored = conversations.load(agent.pk)  # the compacted outputs are what the next step loads
    assert stored[1]["content"].startswith("[compacted by Swarm") and len(stored) == len(history) + 2
    agent.refresh_from_db()
    assert agent.status == Agent.Status.RUNNING


WEB_IMPORTS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
import swarm_web.asgi, swarm_web.urls  # every view, API route and socket consumer
{extra}
print("litellm" in sys.modules, "agents.llm" in sys.modules)
"""


def run_python(code: str) -> str:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_web_process_starts_without_importing_litellm():
    # litellm takes seconds to import: only a model call (the runtime, the judge panel) loads agents.llm
    assert run_python(WEB_IMPORTS.format(extra="")) == "False False"
    # positive control: the check sees the import as soon as the runtime is loaded
    assert run_python(WEB_IMPORTS.format(extra="import agents.runtime")) == "True True"
