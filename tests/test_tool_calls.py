"""Tool calls read the same way wherever they come from: fresh from the model, or from a saved conversation
when a crashed step is resumed. Pure functions: no database, no git, no server."""

from __future__ import annotations

import json

import pytest
from litellm import ModelResponse

from agents import conversations
from agents.llm import ToolCall, Turn, calls
from agents.models import ModelProfile


def from_model(*tool_calls: tuple[str, str, str]) -> list[ToolCall]:
    """The calls a native-tools model's reply turns into (id, name, JSON arguments as the model wrote them)."""
    message = {
        "role": "assistant",
        "content": "On it.",
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in tool_calls
        ],
    }
    response = ModelResponse(model="sim/diligent", choices=[{"message": message, "finish_reason": "tool_calls"}])
    return calls._turn(ModelProfile(name="p", model="sim/diligent"), response, native=True).tool_calls


def test_a_call_with_a_json_object_is_ready_to_run():
    call = ToolCall.from_json("c1", "read_file", '{"path": "mathutil.py"}')
    assert call == ToolCall("c1", "read_file", {"path": "mathutil.py"}, '{"path": "mathutil.py"}', "")


def test_arguments_that_are_not_json_are_refused_with_the_parser_message():
    call = ToolCall.from_json("c1", "read_file", '{"path": "mathutil.py"')
    assert call.arguments == {} and call.raw_arguments == '{"path": "mathutil.py"'
    assert call.error.startswith("arguments are not valid JSON: Expecting ',' delimiter")


@pytest.mark.parametrize("raw", ['["mathutil.py"]', '"mathutil.py"', "42", "null"])
def test_arguments_that_are_json_but_not_an_object_are_refused(raw):
    call = ToolCall.from_json("c1", "read_file", raw)
    assert (call.arguments, call.error) == ({}, "arguments must be a JSON object")


@pytest.mark.parametrize(
    "raw", ['{"path": "mathutil.py"}', '{"path": "mathutil.py"', "[1, 2]", '{"command": "pytest -q", "n": 1}']
)
def test_a_resumed_step_reads_a_saved_call_exactly_as_the_model_call_did(raw):
    fresh = from_model(("call_1", "run_command", raw))
    conversation = [{"role": "user", "content": "go"}, Turn("On it.", fresh).as_message()]
    content, resumed = conversations.unfinished_turn(conversation)
    assert content == "On it."
    assert resumed == fresh
    assert resumed[0].error == ToolCall.from_json("call_1", "run_command", raw).error


def test_a_resumed_step_runs_only_the_calls_that_have_no_result_yet():
    fresh = from_model(
        ("a", "read_file", json.dumps({"path": "mathutil.py"})),
        ("b", "run_command", json.dumps({"command": "pytest -q"})),
    )
    conversation = [
        {"role": "user", "content": "go"},
        Turn("Reading, then testing.", fresh).as_message(),
        {"role": "tool", "tool_call_id": "a", "content": "def mean(values): ..."},
    ]
    assert conversations.unfinished_turn(conversation) == ("Reading, then testing.", [fresh[1]])
    conversation.append({"role": "tool", "tool_call_id": "b", "content": "1 passed"})
    assert conversations.unfinished_turn(conversation) == ("Reading, then testing.", [])


def test_a_conversation_without_a_model_turn_has_nothing_to_resume():
    assert conversations.unfinished_turn([{"role": "user", "content": "go"}]) == ("", [])
