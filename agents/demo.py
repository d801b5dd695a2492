"""The demo a newcomer sees: a small repository with one failing test, a task for it, taste, skills, profiles."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agents import skill_format, skill_library, taste, worktrees
from agents.models import Membership, ModelProfile, Repository, TaskSpec, TasteGuide, Team

DEMO_FILES = {
    "README.md": "# mathutil\n\nSmall numeric and text helpers used by the reporting scripts.\n",
    "mathutil.py": '''"""Numeric helpers."""


def add(a, b):
    return a + b


def mean(values):
    """Arithmetic mean of a non-empty sequence."""
    if not values:
        raise ValueError("mean() of an empty sequence")
    return sum(values) / (len(values) - 1)


def clamp(value, low, high):
    return max(low, min(high, value))
''',
    "textutil.py": '''"""Text helpers."""

import re


def slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
''',
    "tests/__init__.py": "",
    "tests/test_mathutil.py": """import pytest

from mathutil import add, clamp, mean


def test_add():
    assert add(2, 3) == 5


def test_mean():
    assert mean([2, 4, 6]) == 4


def test_mean_of_empty_raises():
    with pytest.raises(ValueError):
        mean([])


def test_clamp():
    assert clamp(15, 0, 10) == 10
""",
    "tests/test_textutil.py": """from textutil import slugify


def test_slugify():
    assert slugify("Hello, World!") == "hello-world"
""",
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
    ".gitignore": "__pycache__/\n",
}

DEMO_AGENTS = [
    ("Ada", "sim-diligent"),
    ("Grace", "sim-diligent"),
    ("Linus", "sim-lazy"),
    ("Margaret", "sim-diligent"),
    ("Alan", "sim-quitter"),
    ("Barbara", "sim-diligent"),
    ("Ken", "sim-lazy"),
    ("Radia", "sim-diligent"),
]

SKILLS = [  # name, description, instructions, files
    (
        "reproduce-first",
        "Run the failing test before changing code. Use at the start of any bug fix.",
        "1. Run the verify command and read the failure (or run `sh /skills/reproduce-first/scripts/first_failure.sh`"
        " in your sandbox: the first failure, in short).\n2. Read every module the failure touches.\n"
        "3. Write down the cause in one sentence before editing.",
        {
            "scripts/first_failure.sh": b"#!/bin/sh\n# the first failing test, in short\npython -m pytest -x -q 2>&1 | tail -n 30\n"
        },
    ),
    (
        "small-diff",
        "Make the smallest change that fixes the cause. Use when editing code to fix a bug.",
        "1. Change only the lines that cause the failure.\n2. Do not reformat untouched code.\n"
        "3. Re-run the whole suite, not only the failing test.",
        {},
    ),
]


def create_demo_repo(path: Path) -> None:
    if (path / ".git").exists():
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, content in DEMO_FILES.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    worktrees.git(path, "init", "-q", "-b", "main")
    worktrees.git(path, "add", "-A")
    worktrees.git(path, "commit", "-q", "-m", "mathutil: first version")


HOUSE_STYLE = [
    "Fix causes, not symptoms.",
    "Never weaken or delete a test to make it pass.",
    "No print() debugging left in code.",
    "Keep diffs small.",
]


@transaction.atomic
def seed(team_name: str = "Demo team") -> tuple[Team, TaskSpec]:
    team, _ = Team.objects.get_or_create(name=team_name)
    repo_path = Path(settings.DATA_DIR) / "repos" / f"demo-{team.pk}"
    create_demo_repo(repo_path)
    repo, _ = Repository.objects.get_or_create(
        team=team, name="mathutil", defaults={"path": str(repo_path), "verify_command": "python -m pytest -q"}
    )
    for behaviour in ("diligent", "lazy", "quitter", "guesser", "looper", "sloppy", "curious"):
        ModelProfile.objects.get_or_create(
            team=team, name=f"sim-{behaviour}", defaults={"model": f"sim/{behaviour}", "family": "simulator"}
        )
    # two simulated judges of different "families" than the simulated workers, and than each other
    judges = [
        ModelProfile.objects.get_or_create(team=team, name=name, defaults={"model": model, "family": family})[0]
        for name, model, family in (
            ("judge-strict", "sim/judge", "sim-judge-a"),
            ("judge-lenient", "sim/judge-lenient", "sim-judge-b"),
        )
    ]
    # a judge that investigates with tools (judges/investigator.py), for panels that want one; not on the demo task
    ModelProfile.objects.get_or_create(
        team=team,
        name="judge-investigator",
        defaults={"model": "sim/investigator", "family": "sim-judge-c", "investigates": True},
    )
    taste_guide, _ = TasteGuide.objects.get_or_create(
        team=team,
        name="House style",
        defaults={"rules": HOUSE_STYLE},
    )
    taste.current(taste_guide)
    skills = [
        skill_library.seed(team, skill_library.Draft(skill_format.compose(n, d, b), files)) for n, d, b, files in SKILLS
    ]
    task = TaskSpec.objects.in_team(team).filter(title="Fix mean() in mathutil").first()
    if task is None:
        task = TaskSpec.objects.create(
            team=team,
            repo=repo,
            title="Fix mean() in mathutil",
            goal="`mean()` returns the wrong value: `mean([2, 4, 6])` gives 6 instead of 4. Find the cause and fix it.",
            context="mathutil is used by the reporting scripts; keep its public functions' signatures.",
            acceptance=["mean([2, 4, 6]) == 4", "The whole test suite passes", "No test is weakened or deleted"],
            verify_command="python -m pytest -q",
            budget_minutes=30,
            budget_tokens=200_000,
            budget_usd=2,
            roster=[{"name": n, "profile": p} for n, p in DEMO_AGENTS],
        )
        task.taste_guides.add(taste_guide)
        task.skills.add(*skills)
        task.judge_profiles.add(*judges)
    return team, task


def ensure_admin(team: Team, out=sys.stdout) -> None:
    """Create the local `admin` account on first run and print its generated password once."""
    User = get_user_model()
    if User.objects.filter(username="admin").exists():
        return
    password = secrets.token_urlsafe(12)
    user = User.objects.create_superuser("admin", "", password)
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.ADMIN})
    out.write(
        "\n" + "=" * 64 + "\n"
        f"  Swarm admin account created\n  username: admin\n  password: {password}\n"
        "  (shown once; change it at /admin/password_change/)\n" + "=" * 64 + "\n\n"
    )


def task_like(template: TaskSpec, roster: list[tuple[str, str]], title: str = "", **fields) -> TaskSpec:
    """A new task on the template's repository, spec, taste and panel, with its own roster (tests, benchmarks)."""
    defaults = {"judge_rule": template.judge_rule, "auto_approve": template.auto_approve}
    task = TaskSpec.objects.create(
        team=template.team,
        repo=template.repo,
        title=title or f"{template.title} / {roster[0][0]} ({roster[0][1]})",
        goal=template.goal,
        acceptance=template.acceptance,
        verify_command=template.verify_command,
        roster=[{"name": n, "profile": p} for n, p in roster],
        **{**defaults, **fields},
    )
    task.taste_guides.set(template.taste_guides.all())
    task.judge_profiles.set(template.judge_profiles.all())
    return task
