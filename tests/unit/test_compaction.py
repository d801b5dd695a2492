"""Compaction: when a prompt nears the model's window, older tool outputs are shortened, oldest first, and
nothing else in the conversation changes."""

from __future__ import annotations

import copy

from agents.llm.compaction import COMPACTED_MARK, compact, estimate_tokens

BIG = "\n".join(f"line {i}: " + "x" * 40 for i in range(200))


def conversation(*outputs: str) -> list[dict]:
    messages = [{"role": "system", "content": "You are Ada."}, {"role": "user", "content": "Fix mean()."}]
    for i, output in enumerate(outputs):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "run_command", "arguments": "{}"}}
        messages.append({"role": "assistant", "content": f"step {i}", "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": output})
    return messages


def tool_outputs(messages: list[dict]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "tool"]


def test_a_prompt_within_the_limit_is_sent_as_it_is():
    messages = conversation(BIG, BIG)
    assert compact(messages, estimate_tokens(messages)) == (messages, False)


def test_the_oldest_output_goes_first_and_compaction_stops_once_the_prompt_fits():
    messages = conversation(BIG, BIG, BIG)
    limit = estimate_tokens(messages) - 100  # shortening one output is enough

    compacted, changed = compact(messages, limit)

    assert changed and estimate_tokens(compacted) <= limit
    first, second, third = tool_outputs(compacted)
    assert first.startswith(f"{COMPACTED_MARK} this tool output had 200 lines")
    assert second == third == BIG


def test_a_summary_keeps_the_first_and_last_lines_and_counts_what_it_left_out():
    compacted, _ = compact(conversation(BIG, BIG), 1)
    summary = tool_outputs(compacted)[0]
    lines = summary.splitlines()
    assert lines[1].startswith("line 0:") and lines[-1].startswith("line 199:")
    assert "... 190 lines left out ..." in summary
    assert len(summary) < len(BIG) // 10


def test_short_outputs_and_everything_that_is_not_a_tool_output_stay_as_they_were():
    short = "3 passed in 0.01s"
    messages = conversation(short, BIG)
    kept = copy.deepcopy(messages)

    compacted, changed = compact(messages, 1)  # a limit no prompt meets: everything that may shrink does

    assert changed
    assert tool_outputs(compacted)[0] == short
    assert [m for m in compacted if m["role"] != "tool"] == [m for m in kept if m["role"] != "tool"]
    assert [m["tool_call_id"] for m in compacted if m["role"] == "tool"] == ["call_0", "call_1"]
    assert messages == kept  # the caller's list is not changed


def test_an_output_compacted_once_is_not_summarised_again():
    once, _ = compact(conversation(BIG, BIG), 1)
    assert compact(once, 1) == (once, False)


def test_the_estimate_is_high_rather_than_low():
    message = {"role": "user", "content": "x" * 300}
    assert estimate_tokens([message]) >= 100  # about 4 characters a token in English; 3 is counted
    assert estimate_tokens([message, message]) == 2 * estimate_tokens([message])
