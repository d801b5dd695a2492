"""What a step that a crash cut short resumes with: the last model turn's unanswered tool calls, no more."""

from __future__ import annotations

import json

from agents.conversations import unfinished_turn
from agents.llm import ToolCall, Turn


def call(call_id: str, name: str, arguments) -> dict:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def test_only_the_calls_without_a_result_are_run_again():
    conversation = [
        {"role": "user", "content": "fix the bug"},
        {
            "role": "assistant",
            "content": "Reading, then testing.",
            "tool_calls": [call("a", "read_file", {"path": "stats.py"}), call("b", "run", {"command": "pytest"})],
        },
        {"role": "tool", "tool_call_id": "a", "content": "def mean(v): ..."},
    ]
    content, calls = unfinished_turn(conversation)
    assert content == "Reading, then testing."
    assert [(c.id, c.name, c.arguments) for c in calls] == [("b", "run", {"command": "pytest"})]


def test_a_finished_turn_leaves_nothing_to_resume_so_the_model_is_asked_again():
    conversation = [
        {"role": "assistant", "content": "", "tool_calls": [call("a", "read_file", {"path": "x"})]},
        {"role": "tool", "tool_call_id": "a", "content": "..."},
        {"role": "assistant", "content": "All done."},
    ]
    assert unfinished_turn(conversation) == ("All done.", [])


def test_an_older_turns_unanswered_calls_are_not_run_again():
    conversation = [
        {"role": "assistant", "content": "", "tool_calls": [call("old", "run", {"command": "rm -rf build"})]},
        {"role": "user", "content": "[message from alice] stop that"},
        {"role": "assistant", "content": "Stopping.", "tool_calls": []},
    ]
    assert unfinished_turn(conversation) == ("Stopping.", [])


def test_garbled_arguments_are_reported_to_the_model_not_run_with_a_guess():
    conversation = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("a", "write_file", '{"path": "x.py", "content": '), call("b", "run", "[1, 2]")],
        }
    ]
    content, calls = unfinished_turn(conversation)
    assert content == ""
    assert [c.arguments for c in calls] == [{}, {}]
    assert calls[0].error.startswith("arguments are not valid JSON")
    assert calls[1].error == "arguments must be a JSON object"
    assert calls[0].raw_arguments == '{"path": "x.py", "content": '


def test_a_conversation_without_a_model_turn_has_nothing_to_resume():
    assert unfinished_turn([]) == ("", [])
    assert unfinished_turn([{"role": "user", "content": "hello"}]) == ("", [])


def test_a_turn_is_stored_in_the_shape_it_is_resumed_from():
    turn = Turn("Reading.", [ToolCall.from_json("a", "read_file", '{"path": "stats.py"}')], tokens_in=10)
    message = turn.as_message()
    assert message == {
        "role": "assistant",
        "content": "Reading.",
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "stats.py"}'}}
        ],
    }
    content, calls = unfinished_turn([message])
    assert (content, calls) == ("Reading.", turn.tool_calls)
    assert Turn("", []).as_message() == {"role": "assistant", "content": ""}  # no empty tool_calls list
