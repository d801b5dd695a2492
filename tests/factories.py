"""Builders for tests: plain functions that make what a scenario needs."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.utils import timezone

from agents import demo, runtime, services, worktrees
from agents.models import Agent, Event, Membership, ModelProfile, TaskSpec, Team
from judges.models import Verdict


def make_user(username: str, team: Team, role: str = Membership.Role.OPERATOR, password: str = "pw-for-tests-123"):
    user = get_user_model().objects.create_user(username, password=password)
    Membership.objects.create(team=team, user=user, role=role)
    return user


def demo_team(name: str = "Demo team"):
    """A team with the seeded demo: repository, task with 8 named agents, taste guide, skills, sim profiles."""
    return demo.seed(name)


def run_step(agent_id: int) -> float | None:
    """One whole step for whoever drives the steps themselves (tests, benchmarks): the scheduler's step, waiting
    for its model call, then at once the tool calls the model asked for, each command waited for in turn (what the
    scheduler's next steps would do)."""
    delay = None
    for _part in range(50):
        outcome = runtime.begin_step(agent_id, then=None)
        if not isinstance(outcome, Future):
            return outcome
        delay, tools_next = outcome.result()
        if not tools_next:
            break
    return delay


def run_until_idle(agents, max_steps: int = 30) -> None:
    """Drive agents step by step (the manual scheduler) until none is running."""
    ids = [a.pk for a in agents]
    for _ in range(max_steps):
        running = list(Agent.objects.filter(pk__in=ids, status=Agent.Status.RUNNING).values_list("pk", flat=True))
        if not running:
            return
        for pk in running:
            run_step(pk)


task_like = demo.task_like


def launch_and_run(task, roster: list[tuple[str, str]]) -> list[Agent]:
    """Launch a task like `task` with this roster of (name, profile) and drive its agents until none is running."""
    agents = services.launch_task(task_like(task, roster))
    run_until_idle(agents)
    return agents


def make_repo(repo_dir: Path, branch: str = "main") -> Path:
    """A git repository on the server with one commit on `branch`, as an admin would register it."""
    repo_dir.mkdir(parents=True)
    (repo_dir / "README.md").write_text("inventory\n")
    worktrees.git(repo_dir, "init", "-q", "-b", branch)
    worktrees.git(repo_dir, "add", "-A")
    worktrees.git(repo_dir, "commit", "-q", "-m", "first")
    return repo_dir


# statuses a fleet's agents take by position: mostly running, some of each state a person acts on
FLEET_STATUSES = ["running"] * 6 + ["paused", "error", "awaiting_review", "stopped", "accepted", "queued"]


def make_fleet(template, n: int, title: str = "A fleet") -> TaskSpec:
    """A launched task of `n` agents written straight to the database, with one status event each: no worktree, and
    no step ever runs (running agents hold a lease nobody will release). Status, model, usage and the age of their
    last status change vary by position, so every filter, sort, group and the attention queue have something."""
    team = template.team
    acme = ModelProfile.objects.get_or_create(
        team=team, name="acme-large", defaults={"model": "sim/diligent", "family": "acme"}
    )[0]
    profiles = [
        *ModelProfile.objects.in_team(team).filter(name__in=["sim-diligent", "sim-lazy"]).order_by("name"),
        acme,
    ]
    roster = [(f"Agent{i:04d}", profiles[i % len(profiles)].name) for i in range(n)]
    now = timezone.now()
    task = task_like(template, roster, title=title, launched_at=now - timedelta(minutes=30))
    agents = Agent.objects.bulk_create(
        Agent(
            task=task,
            name=name,
            profile=profiles[i % len(profiles)],
            status=FLEET_STATUSES[i % len(FLEET_STATUSES)],
            status_reason="looping: read_file repeated 5 times" if i % 24 == 6 else "",
            activity=f"step {i % 17}",
            tokens_in=(i * 7919) % 20_000,
            tokens_out=(i * 104729) % 3_000,
            cost_usd=Decimal((i * 31) % 500) / 100,
            elapsed_seconds=float((i * 13) % 1800),
            steps=i % 40,
            nudges=i % 5,
            files_read=[f"f{k}.py" for k in range(i % 6)],
            next_seq=4,
            lease_expires_at=now + timedelta(days=1),
            finished_at=now if FLEET_STATUSES[i % len(FLEET_STATUSES)] in Agent.FINISHED else None,
        )
        for i, (name, _) in enumerate(roster)
    )
    events = []
    for i, agent in enumerate(agents):
        started = now - timedelta(seconds=10 * (n - i))  # the first agents have waited longest
        turn = {"text": "thinking", "tokens_in": agent.tokens_in // 2, "tokens_out": agent.tokens_out // 2}
        turn["cost_usd"] = float(agent.cost_usd) / 2
        events += [
            Event(agent=agent, seq=1, kind=Event.Kind.MODEL_TURN, payload=turn, created_at=started),
            Event(
                agent=agent, seq=2, kind=Event.Kind.MODEL_TURN, payload=turn, created_at=started + timedelta(seconds=5)
            ),
            Event(
                agent=agent,
                seq=3,
                kind=Event.Kind.STATUS,
                payload={"status": agent.status, "reason": agent.status_reason},
                created_at=started + timedelta(seconds=8),
            ),
        ]
    Event.objects.bulk_create(events, batch_size=1000)
    decided = [Verdict.Status.APPROVED, Verdict.Status.REJECTED]  # an accepted agent's earlier work may be rejected
    Verdict.objects.bulk_create(
        Verdict(
            agent=agent,
            commit_sha="0" * 40,
            recommendation=Verdict.Recommendation.APPROVE,
            status=Verdict.Status.PENDING if agent.status == "awaiting_review" else decided[i % 2],
            created_at=now - timedelta(seconds=10 * (n - i)),
        )
        for i, agent in enumerate(agents)
        if agent.status in {"awaiting_review", "accepted"}
    )
    return task
