"""The tools a model is offered, as the JSON schemas of the chat-completions protocol: every agent's (TOOLS) and a
planner's on top of them (PLANNER_TOOLS), with all their names (NAMES: what a skill's `allowed-tools` may list).

What each tool does is elsewhere: agents/tools.py carries a call out (agents/team_tools.py, agents/planner_tools.py
for theirs). Plain data, so the skill format (agents/skill_format.py) can check names against it.
"""

from __future__ import annotations

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "list_files",
            "description": "List files in the worktree (respects .gitignore).",
            "parameters": {"type": "object", "properties": {"path": {"type": "string", "default": "."}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a text file, optionally a line range (1-based, inclusive).",
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "start_line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                },
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Create a new file (or overwrite one you have read) with the given content.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "edit_file",
            "description": "Replace an exact, unique piece of text in a file you have read.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"}},
                "required": ["path", "old", "new"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_command",
            "description": "Run a shell command in your worktree (sandboxed: no network, time and output limits).",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the repository's files with a regular expression; answers file:line: text.",
            "parameters": {
                "type": "object",
                "properties": {"pattern": {"type": "string"}, "path": {"type": "string", "default": "."}},
                "required": ["pattern"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "message_agent",
            "description": "Send a message to a teammate by name, or to 'all'; it lands in their context.",
            "parameters": {
                "type": "object",
                "properties": {"to": {"type": "string"}, "text": {"type": "string"}},
                "required": ["to", "text"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "ask_person",
            "description": (
                "Ask your supervisors (people) one question you cannot settle from the spec, the code or the taste "
                "guide. You pause until one answers; the answer comes to you as a message."
            ),
            "parameters": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "load_skill",
            "description": "Load the instructions of one of this task's skills (listed in your prompt) by name.",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "read_skill_file",
            "description": "Read one file of one of this task's skills (a reference or a script), by its path.",
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "path": {"type": "string"}},
                "required": ["name", "path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "finish_skill",
            "description": (
                "Say you are done with the skill you loaded last. While it is loaded, a skill that lists its allowed"
                " tools lets you call only those (and the skill tools); after this, every tool again."
            ),
            "parameters": {"type": "object", "properties": {}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "submit",
            "description": (
                "Submit your work for verification by judges and a person. You do not decide it is done. End with a"
                " written handoff: what changed, what was verified, what is left, what you are unsure of."
            ),
            "parameters": {
                "type": "object",
                "properties": {"summary": {"type": "string"}, "handoff": {"type": "string"}},
                "required": ["summary"],
            },
        },
    },
]

STRING = {"type": "string"}
TEXTS = {"type": "array", "items": STRING}


def _tool(tool: str, description: str, required: list[str], **properties) -> dict:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": tool, "description": description, "parameters": parameters}}


PLANNER_TOOLS = [
    _tool(
        "spawn_worker",
        "Spawn a named worker on its own branch and worktree, made from your current commit, for one subtask with its"
        " own acceptance criteria and verify command. Its budget is carved from yours (minutes, tokens, usd: leave"
        " them out for an equal share). role 'planner' spawns a sub-planner, within the task's depth limit.",
        ["name", "profile", "subtask", "acceptance", "verify_command"],
        name=STRING,
        profile=STRING,
        subtask=STRING,
        acceptance=TEXTS,
        verify_command=STRING,
        role={"type": "string", "enum": ["worker", "planner"]},
        minutes={"type": "integer"},
        tokens={"type": "integer"},
        usd={"type": "number"},
    ),
    _tool(
        "wait_for",
        "Pause until each named worker has settled (submitted and judged, finished, failed or paused). You hold no"
        " resources while waiting; a message tells you how each stands.",
        ["names"],
        names=TEXTS,
    ),
    _tool("read_handoff", "Read a worker's written handoff and where it stands.", ["name"], name=STRING),
    _tool("stop_worker", "Stop one of your workers (and every worker below it).", ["name"], name=STRING),
]

NAMES = frozenset(t["function"]["name"] for t in TOOLS + PLANNER_TOOLS)
# always callable, also while a skill's allowed-tools bound the calls: the way to another skill, or out of this one
SKILL_TOOLS = frozenset({"load_skill", "read_skill_file", "finish_skill"})
