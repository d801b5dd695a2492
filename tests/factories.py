"""Builders for tests: plain functions that make what a scenario needs."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from agents import demo, runtime, services, worktrees
from agents.models import Agent, Membership, Team


def make_user(username: str, team: Team, role: str = Membership.Role.OPERATOR, password: str = "pw-for-tests-123"):
    user = get_user_model().objects.create_user(username, password=password)
    Membership.objects.create(team=team, user=user, role=role)
    return user


def demo_team(name: str = "Demo team"):
    """A team with the seeded demo: repository, task with 8 named agents, taste guide, skills, sim profiles."""
    return demo.seed(name)


def run_until_idle(agents, max_steps: int = 30) -> None:
    """Drive agents step by step (the manual scheduler) until none is running."""
    ids = [a.pk for a in agents]
    for _ in range(max_steps):
        running = list(Agent.objects.filter(pk__in=ids, status=Agent.Status.RUNNING).values_list("pk", flat=True))
        if not running:
            return
        for pk in running:
            runtime.run_step(pk)


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
