"""The runtime's guards, as the agent and the person watching it see them: a loop is named, then paused; an agent
that stops early is nudged with what it has left; the same call is recognised whatever order its arguments had."""

from __future__ import annotations

import pytest

from agents import guards
from agents.llm import ToolCall
from agents.models import Agent, Event
from agents.prompts import NUDGE_MARK


def call(name: str = "run_command", **arguments) -> ToolCall:
    return ToolCall("call_1", name, arguments or {"command": "pytest -q"})


def loop_events(agent: Agent) -> list[dict]:
    return [e.payload for e in Event.objects.filter(agent=agent, kind="loop").order_by("seq")]


def test_the_same_call_and_result_is_the_same_fingerprint_whatever_the_order_of_the_arguments():
    one = guards.fingerprint("read_file", {"path": "a.py", "limit": 10}, "def f(): ...")
    assert one == guards.fingerprint("read_file", {"limit": 10, "path": "a.py"}, "def f(): ...")
    assert one != guards.fingerprint("read_file", {"path": "a.py", "limit": 10}, "def g(): ...")
    assert one != guards.fingerprint("read_file", {"path": "b.py", "limit": 10}, "def f(): ...")


def test_a_third_identical_call_is_named_to_the_agent_and_a_fifth_pauses_it(agent):
    state = guards.ToolState(agent)
    answers = [state.check_loop(call(), "1 failed") for _ in range(5)]

    assert answers[:2] == ["", ""]
    assert answers[2].startswith(NUDGE_MARK) and "run_command with the same arguments 3 times" in answers[2]
    assert state.paused == "looping: run_command repeated 5 times with the same result"
    assert loop_events(agent) == [
        {"tool": "run_command", "repeats": 3, "action": "warned"},
        {"tool": "run_command", "repeats": 5, "action": "paused"},
    ]
    assert state.take_counts() == (0, 1) and state.take_counts() == (0, 0)  # saved as increments, once
    agent.refresh_from_db()
    assert agent.activity == "loop caught"


def test_the_same_call_with_a_new_result_is_progress_not_a_loop(agent):
    state = guards.ToolState(agent)
    answers = [state.check_loop(call(), f"{n} failed") for n in range(6)]
    assert answers == [""] * 6 and not state.paused and not loop_events(agent)


def test_repeats_spread_wider_than_the_window_are_not_a_loop(agent):
    state = guards.ToolState(agent)
    for n in range(3):
        state.check_loop(call(), "1 failed")
        for other in range(guards.LOOP_WINDOW):
            state.check_loop(call("read_file", path=f"f{n}_{other}.py"), "...")
    assert not loop_events(agent) and len(state.recent) == guards.LOOP_WINDOW


def test_the_loop_window_survives_a_restart_through_the_agent_row(agent):
    agent.recent_calls = [guards.fingerprint("run_command", {"command": "pytest -q"}, "1 failed")] * 2
    assert guards.ToolState(agent).check_loop(call(), "1 failed").startswith(NUDGE_MARK)


@pytest.mark.parametrize(
    "said, reason",
    [
        ("I'll stop here to save tokens.", "announced it would stop"),
        ("I am running low on budget, so I will wrap up.", "announced it would stop"),
        ("The tests pass now.", "ended its turn without a tool call"),
    ],
)
def test_an_agent_that_stops_early_is_nudged_with_the_budget_it_has_left(agent, said, reason):
    agent.elapsed_seconds, agent.tokens_in = 600, 50_000
    conversation: list[dict] = []

    guards.nudge(agent, said, conversation)

    [nudge] = conversation
    assert nudge["role"] == "user" and nudge["content"].startswith(f"{NUDGE_MARK} Keep going, Ada")
    assert "20 of 30 minutes" in nudge["content"] and "150,000 tokens left" in nudge["content"]
    event = Event.objects.get(agent=agent, kind="nudge")
    assert event.payload == {"text": nudge["content"], "reason": reason}
    agent.refresh_from_db()
    assert agent.nudges == 1


def test_stop_words_are_whole_phrases_not_parts_of_words():
    assert guards.STOP_WORDS.search("Out of tokens, stopping.")
    assert not guards.STOP_WORDS.search("The function nonstop here() is fine; tokenize the input.")
