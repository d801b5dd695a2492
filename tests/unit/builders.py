"""Small builders for the fast tier: rows only, no git, no worktree, no model call. Each takes what it needs."""

from __future__ import annotations

import re

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction

from agents.models import Agent, ConversationEntry, Membership, ModelProfile, Repository, TaskSpec, TasteGuide, Team
from judges.models import Verdict

SHA = "c0ffee" * 6 + "abcd"  # 40 hex digits, a commit no repository here has
BUTTON = re.compile(r"<button([^>]*)>([^<]*)</button>")


def buttons(html: str) -> dict[str, bool]:
    """A rendered page's buttons by the first word of their label: enabled or not."""
    return {label.split()[0]: " disabled" not in attrs for attrs, label in BUTTON.findall(html) if label.strip()}


def while_watched(group: str, call):
    """`call()` (in this thread, with its database connection) while a channel of this process is in `group`, as a
    page's socket would be: on whichever channel layer the settings name (in-memory, or Redis pub/sub, whose
    subscription belongs to the event loop that made it, so the whole visit runs in one)."""

    async def visit():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            return await sync_to_async(call)()  # thread_sensitive: the caller's thread and connection
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(visit)()


def member(team: Team, username: str, role: str = Membership.Role.OPERATOR):
    user = get_user_model().objects.create_user(username)  # no password: hashing one takes a noticeable while
    Membership.objects.create(team=team, user=user, role=role)
    return user


def task(team: Team, title: str = "Fix mean()", **fields) -> TaskSpec:
    # path "": host git refuses a relative directory before running anything, so no git process ever starts
    repo, _ = Repository.objects.get_or_create(team=team, name="mathutil", defaults={"path": ""})
    return TaskSpec.objects.create(team=team, repo=repo, title=title, goal="mean([2, 4, 6]) == 4", **fields)


def agent(task: TaskSpec, name: str = "Ada", status: str = Agent.Status.RUNNING, **fields) -> Agent:
    profile, _ = ModelProfile.objects.get_or_create(team=task.team, name="sim-diligent", model="sim/diligent")
    return Agent.objects.create(task=task, name=name, profile=profile, status=status, branch=f"swarm/{name}", **fields)


def verdict(
    agent: Agent,
    *,
    status: str = Verdict.Status.PENDING,
    recommendation: str = Verdict.Recommendation.APPROVE,
    verify: int | None = 0,
    checks: tuple[int, ...] = (),
) -> Verdict:
    """A verdict whose verify command exited `verify` (None: nothing was run) and whose criterion checks exited
    `checks`."""
    evidence: dict = {"diff_stat": [{"path": "mathutil.py", "added": 1, "removed": 1}]}
    if verify is not None:
        evidence["verify"] = {"command": "python -m pytest -q", "exit_code": verify, "output": "", "seconds": 0.1}
    evidence["criterion_checks"] = [
        {"command": f"check {i}", "criterion": "mean is right", "exit_code": code, "output": ""}
        for i, code in enumerate(checks)
    ]
    return Verdict.objects.create(
        agent=agent,
        commit_sha=SHA,
        recommendation=recommendation,
        reasons=["`python -m pytest -q` ran"],
        evidence=evidence,
        status=status,
    )


def guide(team: Team, name: str = "House style") -> TasteGuide:
    return TasteGuide.objects.create(team=team, name=name, rules=["Small functions."])


def conversation(agent_id: int, messages: list[dict]) -> None:
    """Set an agent's whole conversation outside any step: a history to start from."""
    with transaction.atomic():
        ConversationEntry.objects.filter(agent_id=agent_id).delete()
        ConversationEntry.objects.bulk_create(
            ConversationEntry(agent_id=agent_id, position=i, message=m) for i, m in enumerate(messages)
        )
