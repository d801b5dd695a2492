"""A planner integrates its workers' approved work: an approval merges a spawned worker's submission into its
planner's branch (Agent.merge_target, through judges/merge.py like any merge), the planner's worktree follows the
branch, and the planner is told in a message that names the worker's handoff (it reads it with `read_handoff`)."""

from __future__ import annotations

import logging

from agents import services, worktrees
from agents.models import Agent

log = logging.getLogger(__name__)


def before_merge(agent: Agent) -> str:
    """The planner's branch head before a worker's work merges into it, with whatever the planner changed in its
    worktree committed first (the merge builds on it, nothing of it is lost); "" for an agent without a planner."""
    parent = agent.parent
    if parent is None or not parent.worktree:
        return ""
    return worktrees.commit_all(parent.worktree, f"{parent.name}: work in progress before merging {agent.name}'s")


def after_merge(agent: Agent, before: str, merged: str) -> None:
    """After a worker's work merged into its planner's branch: the planner's worktree moves with the branch (its
    files and index, as the merge left them) and the planner hears of it."""
    parent = agent.parent
    if parent is None:
        return
    followed = True
    if before and parent.worktree:
        try:
            worktrees.git(parent.worktree, "read-tree", "-m", "-u", before, merged)
        except worktrees.GitError as exc:  # it changed the same files meanwhile: it must not commit over the merge
            log.warning("planner %s: worktree not brought to %s: %s", parent.pk, merged[:10], exc)
            followed = False
    if parent.finished:
        return
    text = (
        f"{agent.name}'s work was approved and merged into your branch {parent.branch} ({merged[:10]}). "
        f"Read its handoff with read_handoff(name='{agent.name}') before you go on."
    )
    if not followed:
        text += (
            " Your worktree could not follow the merge because you changed the same files meanwhile: do not"
            " submit; ask a person (ask_person) to bring your worktree up to date with your branch."
        )
    services.inject_message(parent, text)
