"""The runtime's guards, one lesson each from running many agents: nudges against quitting early, loops caught,
read-before-edit counts, and no resubmitting unchanged or unsafe work (budgets are the model's rule: Agent.budget_stop,
agents/models_budget.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from django.db.models import F

from agents import llm, services, tool_schemas, worktrees
from agents.models import Agent
from agents.prompts import NUDGE_MARK
from agents.tool_errors import ToolRefused

STOP_WORDS = re.compile(r"\b(stop here|save tokens|token limit|out of (time|tokens)|running low|I'll stop)\b", re.I)
LOOP_WARN = 3  # the same call with the same result this many times in the window: tell the agent
LOOP_PAUSE = 5  # ... and if it goes on: pause for a person
LOOP_WINDOW = 10


def fingerprint(name: str, args, result: str) -> str:
    raw = json.dumps([name, args, result[:5000]], sort_keys=True, default=str)
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


class ToolState:
    def __init__(self, agent: Agent):
        self.files_read = {os.path.normpath(p) for p in agent.files_read}
        self.files_edited = set(agent.files_edited)
        self.recent = list(agent.recent_calls)
        self.refused_edits = 0
        self.loops = 0
        self.paused = ""
        self.handoff = ""  # written with a submission
        self.skill = dict(agent.active_skill or {})  # the skill it follows: {"name", "version", "tools"}, or {}
        self.agent = agent

    def skill_refusal(self, name: str) -> str:
        """Why a call is refused while the skill it follows allows only some tools ("" when it may go on). The skill
        tools always go (another skill, or out of this one); an unknown tool is refused as such elsewhere."""
        allowed = self.skill.get("tools") or []
        if not allowed or name in allowed or name in tool_schemas.SKILL_TOOLS or name not in tool_schemas.NAMES:
            return ""
        return (
            f"{name} is not among the tools the skill {self.skill.get('name')} allows while you follow it:"
            f" {', '.join(allowed)}. Use those, or call finish_skill when you are done with the skill."
        )

    def take_counts(self) -> tuple[int, int]:
        """Refused edits and loops caught since the last save (saved as increments)."""
        counts = (self.refused_edits, self.loops)
        self.refused_edits = self.loops = 0
        return counts

    def check_loop(self, call: llm.ToolCall, result: str) -> str:
        fp = fingerprint(call.name, call.arguments, result)
        self.recent = (self.recent + [fp])[-LOOP_WINDOW:]
        repeats = self.recent.count(fp)
        if repeats == LOOP_WARN:
            self.loops += 1
            services.record_event(
                self.agent.pk,
                "loop",
                {"tool": call.name, "repeats": repeats, "action": "warned"},
                activity="loop caught",
            )
            return (
                f"{NUDGE_MARK} You have called {call.name} with the same arguments {repeats} times and got the same"
                " result. Repeating it will not change the outcome: try a different approach."
            )
        if repeats >= LOOP_PAUSE:
            self.paused = f"{Agent.LOOP_PAUSE}{call.name} repeated {repeats} times with the same result"
            services.record_event(self.agent.pk, "loop", {"tool": call.name, "repeats": repeats, "action": "paused"})
        return ""


def nudge(agent: Agent, content: str, conversation: list[dict]) -> None:
    reason = "announced it would stop" if STOP_WORDS.search(content) else "ended its turn without a tool call"
    left = max(0.0, agent.budget_minutes - agent.elapsed_seconds / 60)
    nudge = (
        f"{NUDGE_MARK} Keep going, {agent.name}: the task is not finished and you are not done until you submit. "
        f"You have {left:.0f} of {agent.budget_minutes} minutes and "
        f"{max(0, agent.budget_tokens - agent.tokens):,} tokens left; do not stop to save tokens. "
        "Continue with your next tool call."
    )
    conversation.append({"role": "user", "content": nudge})
    services.record_event(agent.pk, "nudge", {"text": nudge, "reason": reason}, nudges=F("nudges") + 1)


def check_submit(agent: Agent) -> tuple[str, str]:
    """No resubmitting the same thing: a submission after a rejection must change something. Nothing is
    submitted while the worktree holds git metadata of the agent's making (host git would have to enter it)."""
    try:
        worktrees.check_tree(agent.worktree)
        if agent.submitted_commit:
            dirty = worktrees.git(agent.worktree, "status", "--porcelain", "--ignore-submodules=all").strip()
            if not dirty and worktrees.head(agent.worktree) == agent.submitted_commit:
                raise ToolRefused(
                    f"nothing changed since your last submission ({agent.submitted_commit[:10]}), which was rejected."
                    " Read the reviewer's reasons, fix the cause, run the verify command, then submit."
                )
        marked = conflict_markers(agent.worktree, agent.base_commit)
        if marked:
            raise ToolRefused(
                f"{', '.join(marked)} still hold(s) git conflict markers (<<<<<<<, =======, >>>>>>>). Resolve every"
                " conflict, remove the markers, run the verify command, then submit."
            )
    except worktrees.GitError as exc:
        raise ToolRefused(f"not submitted: {exc}") from None
    return "submitted for verification; wait for the verdict", "submitted"


CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)", re.M)


def conflict_markers(worktree: str, base: str) -> list[str]:
    """Files changed since `base` that still hold a pair of conflict marker lines."""
    if not base:
        return []
    changed = worktrees.git(worktree, "diff", "--name-only", "--no-ext-diff", "--no-textconv", base).splitlines()
    root, found = Path(worktree).resolve(), []
    for path in changed[:2000]:
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file() or target.stat().st_size > 2_000_000:
            continue  # gone, a link out of the worktree, or too big to be a source file
        if len(CONFLICT_MARKER.findall(target.read_text(errors="replace"))) >= 2:
            found.append(path)
    return found
