"""The text tool protocol, for models without native tools: what the model is told, how its blocks are read, and
how the stored (native) conversation is replayed to it."""

from __future__ import annotations

import json

from agents.llm.model_info import context_budget, model_name, native_tools
from agents.llm.text_protocol import as_text_protocol, parse_text_calls, protocol_prompt, visible
from agents.models import ModelProfile

READ_FILE = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file of your worktree.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["path"],
        },
    },
}


def test_a_reply_with_two_blocks_gives_two_calls_and_the_prose_without_them():
    reply = (
        "Reading first.\n"
        '<tool_call>{"name": "read_file", "arguments": {"path": "mathutil.py"}}</tool_call>\n'
        'Then the tests. <tool_call>{"name": "run_command", "arguments": {"command": "pytest -q"}}</tool_call>'
    )
    text, calls = parse_text_calls(reply)
    assert text == "Reading first.\n\nThen the tests."
    assert [(c.name, c.arguments, c.error) for c in calls] == [
        ("read_file", {"path": "mathutil.py"}, ""),
        ("run_command", {"command": "pytest -q"}, ""),
    ]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert json.loads(calls[0].raw_arguments) == {"path": "mathutil.py"}


def test_a_block_the_reply_ends_inside_is_still_read():
    _, calls = parse_text_calls('Now: <tool_call>{"name": "submit", "arguments": {}}')
    assert [(c.name, c.arguments, c.error) for c in calls] == [("submit", {}, "")]


def test_arguments_sent_as_a_json_string_are_read_as_the_object_they_hold():
    _, calls = parse_text_calls('<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}</tool_call>')
    assert calls[0].arguments == {"path": "a.py"} and not calls[0].error


def test_broken_blocks_become_calls_that_say_what_is_wrong_instead_of_running():
    reply = (
        "<tool_call>{not json}</tool_call>"
        '<tool_call>{"arguments": {"path": "a.py"}}</tool_call>'
        '<tool_call>{"name": "read_file", "arguments": ["a.py"]}</tool_call>'
    )
    _, calls = parse_text_calls(reply)
    assert [c.arguments for c in calls] == [{}, {}, {}]
    assert calls[0].error.startswith("tool call block is not valid JSON")
    assert calls[0].raw_arguments == "{not json}"  # what the model sent, so it can see its mistake
    assert calls[1].error == 'tool call block needs a "name"'
    assert (calls[2].name, calls[2].error) == ("read_file", "arguments must be a JSON object")


def test_a_reply_without_blocks_is_only_text():
    assert parse_text_calls("  All done.  ") == ("All done.", [])


def test_the_prompt_lists_each_tool_with_its_arguments_and_which_are_optional():
    prompt = protocol_prompt([READ_FILE])
    assert "<tool_call>" in prompt and "[tool result <id>]" in prompt
    assert "- read_file(path: string, limit?: integer): Read a file of your worktree." in prompt


def test_a_stored_conversation_is_replayed_as_blocks_and_tool_results_as_messages():
    call = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    messages = [
        {"role": "system", "content": "You are Ada."},
        {"role": "user", "content": "Fix mean()."},
        {"role": "assistant", "content": "Reading.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "def mean(v): ..."},
    ]
    replayed = as_text_protocol(messages, [READ_FILE])

    assert [m["role"] for m in replayed] == ["system", "user", "assistant", "user"]
    assert replayed[0]["content"].startswith("You are Ada.\n\nYou have tools.")
    assert replayed[2]["content"] == (
        'Reading.\n<tool_call>{"name": "read_file", "arguments": {"path": "a.py"}}</tool_call>'
    )
    assert replayed[3]["content"] == "[tool result call_1 read_file]\ndef mean(v): ..."
    assert messages[0]["content"] == "You are Ada."  # the stored conversation is not changed
    _, calls = parse_text_calls(replayed[2]["content"])  # what the model sees is what it would write
    assert (calls[0].name, calls[0].arguments) == ("read_file", {"path": "a.py"})


def test_a_conversation_without_a_system_prompt_gets_the_protocol_as_one():
    replayed = as_text_protocol([{"role": "user", "content": "hi"}], [READ_FILE])
    assert replayed[0]["role"] == "system" and "read_file(" in replayed[0]["content"]
    assert replayed[1] == {"role": "user", "content": "hi"}


def test_people_see_the_prose_before_the_first_block_of_a_text_protocol_reply():
    reply = 'Reading mathutil.py.  \n<tool_call>{"name": "read_file"}</tool_call> trailing'
    assert visible(reply, native=False) == "Reading mathutil.py."
    assert visible(reply, native=True) == reply


# ---------------------------------------------------------------- which models get the protocol


def profile(model: str) -> ModelProfile:
    return ModelProfile(name="p", model=model)


def test_a_text_tools_suffix_forces_the_protocol_and_is_not_part_of_the_model_name():
    assert model_name(profile("openai/gpt-4o#text-tools")) == ("openai/gpt-4o", True)
    assert model_name(profile("openai/gpt-4o")) == ("openai/gpt-4o", False)
    assert native_tools(profile("openai/gpt-4o")) and not native_tools(profile("openai/gpt-4o#text-tools"))


def test_simulated_and_unknown_models_get_native_tools(settings):
    settings.SWARM_LLM_MODELS_FILE = ""
    assert native_tools(profile("sim/diligent"))
    assert native_tools(profile("openai/self-hosted-model-litellm-never-heard-of"))


def test_a_model_litellm_does_not_know_is_compacted_at_three_quarters_of_the_configured_window(settings):
    settings.SWARM_LLM_CONTEXT_TOKENS, settings.SWARM_LLM_MODELS_FILE = 16_000, ""
    assert context_budget(profile("openai/self-hosted-model-litellm-never-heard-of")) == 12_000
