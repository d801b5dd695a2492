"""Real models: calls through litellm against a real local OpenAI-compatible HTTP server (streaming, retries,
timeouts, the text tool protocol, compaction); agents driven by it are tests/test_llm_agents.py's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents import llm, tools
from tests.openai_server import hang, reply, status
from tests.real_models import INPUT_PRICE, OUTPUT_PRICE, messages_for, profile_for

pytestmark = pytest.mark.usefixtures("quick_retries")


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
    server.script(hang(30), hang(30), hang(30))
    started = time.monotonic()

    with pytest.raises(llm.ModelError) as failed:
        llm.complete(profile_for(server), messages_for(), [])

    assert str(failed.value).startswith("timed out after 0.5 s (3 attempts)")
    assert len(server.requests) == 3
    # three 0.5 s timeouts and their backoffs, not a hanging call's 30 s (room for a loaded machine)
    assert time.monotonic() - started < 15


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
