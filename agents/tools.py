"""What an agent may do: the tools a model is offered (their schemas: agents/tool_schemas.py), and one call carried
out (`carry_out`).

File tools run on the host with path checks; commands run sandboxed, put in flight by the runtime
(`command_in_flight`, `command_carried`) so that no thread waits for them; the team tools (team_tools.py) and the
submission check (guards.py) are dispatched from here too.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path

from agents import (
    guards,
    hostgit,
    lease,
    planner_tools,
    sandbox,
    search,
    services,
    skill_library,
    team_tools,
    tool_schemas,
    turns,
    worktrees,
)
from agents.llm import ToolCall
from agents.models import Agent
from agents.tool_errors import ToolRefused

MAX_READ = 200_000
MAX_WRITE = 1_000_000
MAX_LIST = 2_000
MAX_HITS = 200

TOOLS = tool_schemas.TOOLS
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}


def offered(agent: Agent) -> list[dict]:
    """The tools a model is offered: a planner's (agents/planner_tools.py) on top of every worker's."""
    return TOOLS + planner_tools.TOOLS if agent.role == "planner" else TOOLS


@dataclass
class ToolOutcome:
    ok: bool
    result: str
    activity: str
    read: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    command: dict | None = None


def carry_out(agent: Agent, call: ToolCall, state: guards.ToolState) -> tuple[str, str | None, dict, str]:
    """Carry out one call here, outside any transaction (a command put in flight instead: `command_in_flight`).

    Returns (result text for the model, submit summary or None, the tool_call event's payload, activity)."""
    payload: dict = {"tool": call.name, "args": call.arguments or call.raw_arguments}
    submitted = None
    try:
        if call.error:
            raise ToolRefused(call.error)
        if refusal := state.skill_refusal(call.name):
            raise ToolRefused(refusal)
        if call.name == "message_agent":
            result_text, activity = team_tools.message_agent(agent, call.arguments)
        elif call.name == "ask_person":
            result_text, activity, state.paused = team_tools.ask_person(agent, call.arguments)
        elif call.name == "load_skill":
            result_text, activity, state.skill = team_tools.load_skill(agent, call.arguments)
        elif call.name == "finish_skill":
            result_text, activity = team_tools.finish_skill(state.skill)
            state.skill = {}
        elif call.name in planner_tools.TOOL_NAMES:
            result_text, activity, state.paused = planner_tools.carry_out(agent, call.name, call.arguments)
        elif call.name == "read_skill_file":
            result_text, activity = team_tools.read_skill_file(agent, call.arguments)
        elif call.name == "submit":
            result_text, activity = guards.check_submit(agent)
            submitted = call.arguments.get("summary") if isinstance(call.arguments.get("summary"), str) else ""
            handoff = call.arguments.get("handoff")
            state.handoff = services.clean_text(handoff if isinstance(handoff, str) and handoff.strip() else submitted)
        else:
            outcome = execute(agent.worktree, call.name, call.arguments, state.files_read)
            lease.check_stop(agent.pk)  # the process stops: the call is redone by the next holder
            return _answer(agent, state, payload, outcome)
        payload.update(ok=True, result=result_text)
    except ToolRefused as exc:
        result_text = f"REFUSED: {exc}"
        payload.update(ok=False, refused=True, result=result_text)
        activity = f"refused: {call.name}"
        if call.name in {"edit_file", "write_file"} and "have not read" in str(exc):
            state.refused_edits += 1
            payload["blind_edit"] = True
    return result_text, submitted, payload, activity


def command_in_flight(agent: Agent, call: ToolCall, state: guards.ToolState) -> Coroutine | None:
    """The call's command as a coroutine to put in flight (agents/inflight.py), or None when the call is carried out
    here: not a command, or one that `carry_out` refuses."""
    command = call.arguments.get("command") if call.name == "run_command" and not call.error else None
    if not isinstance(command, str) or not command.strip() or state.skill_refusal(call.name):
        return None
    try:
        sandbox.ready(agent.worktree)
    except sandbox.SandboxUnavailable:
        return None
    return sandbox.arun(agent.worktree, command, skill_library.sandbox_files(agent.task))


def command_carried(
    agent: Agent, call: ToolCall, state: guards.ToolState, result: sandbox.CommandResult | None
) -> tuple[str, str | None, dict, str]:
    """What `carry_out` returns, for a command that ran in flight (None: a person's interrupt came before it began)."""
    if result is None:
        result = sandbox.CommandResult(call.arguments["command"], 130, "… [interrupted before it started]")
    payload: dict = {"tool": call.name, "args": call.arguments or call.raw_arguments}
    return _answer(agent, state, payload, _command_outcome(result))


def _answer(agent: Agent, state: guards.ToolState, payload: dict, outcome: ToolOutcome) -> tuple[str, None, dict, str]:
    if outcome.command and outcome.command.get("exit_code") == 130:
        services.record_event(agent.pk, "interrupted", {"what": "command"}, activity="interrupted")
    state.files_read.update(outcome.read)
    state.files_edited.update(outcome.edited)
    payload.update(command=outcome.command, ok=outcome.ok, result=outcome.result)
    return outcome.result, None, payload, outcome.activity


def resolve(worktree: str | Path, relative: str) -> Path:
    """A path inside the worktree, or ToolRefused: no absolute paths, no `..` out, no links out, no `.git` at any
    depth (as written or once links are resolved), in any letter case."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ToolRefused("path must be a non-empty string")
    root = Path(worktree).resolve()
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise ToolRefused(f"{relative!r} is outside your worktree")
    if any(hostgit.is_dotgit(part) for part in (*Path(relative).parts, *candidate.relative_to(root).parts)):
        raise ToolRefused(
            "git metadata (.git, at any depth) is managed by Swarm, not by agents: no nested repositories either"
        )
    return candidate


def _rel(worktree: str | Path, path: Path) -> str:
    return str(path.relative_to(Path(worktree).resolve()))


def execute(worktree: str, name: str, args: dict, files_read: set[str]) -> ToolOutcome:
    """Carry out one tool call. Raises ToolRefused for refusals the agent should read."""
    if name not in TOOL_NAMES:
        raise ToolRefused(f"unknown tool {name!r}; available: {', '.join(sorted(TOOL_NAMES))}")
    try:
        return _execute(worktree, name, args, files_read)
    except worktrees.UnsafeTree as exc:
        raise ToolRefused(str(exc)) from None
    except (worktrees.GitError, ValueError, TypeError, UnicodeError) as exc:
        # the model sent arguments of the wrong shape: tell it, never crash the agent
        raise ToolRefused(f"{name} could not run with these arguments: {str(exc)[:300]}") from None


def _execute(worktree: str, name: str, args: dict, files_read: set[str]) -> ToolOutcome:
    if name == "list_files":
        where = args.get("path") or "."
        resolve(worktree, where)
        out = worktrees.git(worktree, "ls-files", "--cached", "--others", "--exclude-standard", "--", where)
        files = out.splitlines()
        text = "\n".join(files[:MAX_LIST]) + (f"\n… {len(files) - MAX_LIST} more" if len(files) > MAX_LIST else "")
        return ToolOutcome(True, text or "(no files)", f"listing {args.get('path') or '.'}")
    if name == "search":
        return _search(worktree, args.get("pattern"), args.get("path") or ".")
    if name == "read_file":
        path = resolve(worktree, args.get("path"))
        if not path.is_file():
            raise ToolRefused(f"{args.get('path')!r} is not a file")
        text = path.read_bytes()[:MAX_READ].decode("utf-8", errors="replace")
        start, end = args.get("start_line"), args.get("end_line")
        if start or end:
            lines = text.splitlines()
            s = max(1, int(start or 1))
            e = min(len(lines), int(end or len(lines)))
            text = "\n".join(f"{i}: {lines[i - 1]}" for i in range(s, e + 1))
        rel = _rel(worktree, path)
        return ToolOutcome(True, text, f"reading {rel}", read=[rel])
    if name in {"write_file", "edit_file"}:
        path = resolve(worktree, args.get("path"))
        rel = _rel(worktree, path)
        if path.exists() and rel not in files_read:
            raise ToolRefused(
                f"you have not read {rel} in this run. Read it (read_file) before you change it: "
                "edits made without reading the code are refused."
            )
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ToolRefused(f"{rel} is not a regular file")
        if name == "write_file":
            content = args.get("content")
            if not isinstance(content, str) or len(content) > MAX_WRITE:
                raise ToolRefused("content must be a string of at most 1 MB")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            return ToolOutcome(True, f"wrote {rel} ({len(content)} characters)", f"writing {rel}", edited=[rel])
        old, new = args.get("old"), args.get("new")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise ToolRefused("edit_file needs `old` (non-empty) and `new` strings")
        if not path.exists():
            raise ToolRefused(f"{rel} does not exist; use write_file to create it")
        current = path.read_text(errors="replace")
        count = current.count(old)
        if count != 1:
            raise ToolRefused(f"`old` must occur exactly once in {rel}; it occurs {count} times")
        path.write_text(current.replace(old, new, 1))
        return ToolOutcome(True, f"edited {rel}", f"editing {rel}", edited=[rel])
    if name == "run_command":
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolRefused("run_command needs a command string")
        try:
            return _command_outcome(sandbox.run(worktree, command))
        except sandbox.SandboxUnavailable as exc:
            raise ToolRefused(f"commands are disabled: {exc}") from None
    raise ToolRefused(f"{name} is handled by the runtime, not in the worktree")


def _command_outcome(result: sandbox.CommandResult) -> ToolOutcome:
    text = f"$ {result.command}\n{result.output}\n[exit code {result.exit_code}]"
    return ToolOutcome(result.exit_code == 0, text, f"ran {result.command[:80]}", command=result.as_dict())


def _search(worktree: str, pattern, path: str) -> ToolOutcome:
    """Regular expressions in Python's syntax, matched with a deadline in a child process (agents/search.py)."""
    if not isinstance(pattern, str) or not pattern:
        raise ToolRefused("search needs a `pattern` (a regular expression)")
    try:
        search.compile_check(pattern)
    except search.InvalidPattern as exc:
        raise ToolRefused(f"invalid regular expression: {exc}") from None
    resolve(worktree, path)
    names = worktrees.git(worktree, "ls-files", "--cached", "--others", "--exclude-standard", "--", path).splitlines()
    files = []
    for rel in names:
        try:
            target = resolve(worktree, rel)
        except ToolRefused:
            continue  # a link out of the worktree or into git metadata: never read by the host
        if target.is_file() and target.stat().st_size <= MAX_READ:
            files.append((rel, str(target)))
    with turns.released():  # up to seconds in a child process: other steps go on meanwhile (agents/turns.py)
        found = search.search(pattern, files, MAX_READ, MAX_HITS)
    hits = [f"{rel}:{number}: {text}" for rel, number, text in found.hits]
    activity = f"searching {pattern[:60]}"
    if found.stopped:
        so_far = f"; {len(hits)} matches before that:\n" + "\n".join(hits) if hits else "; no match before that"
        text = f"search {found.stopped} (a simpler pattern or a narrower path will do){so_far}"
        return ToolOutcome(False, text, activity)
    if len(hits) >= MAX_HITS:
        return ToolOutcome(True, "\n".join(hits) + f"\n… stopped at {MAX_HITS} matches", activity)
    return ToolOutcome(True, "\n".join(hits) or "no match", activity)
