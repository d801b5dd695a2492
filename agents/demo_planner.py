"""The planner demo: a second small repository with three independent defects, each caught by its own test file,
and a task launched with a planner (sim/planner) whose workers (sim/fixer) fix one defect each."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from agents import worktrees
from agents.models import ModelProfile, Repository, TaskSpec, Team
from agents.sim_planner import DEFECTS  # noqa: F401 (the defects' fixes, which the simulated fixer carries)

FILES = {
    "README.md": "# shop\n\nSmall helpers of the shop's scripts: statistics, money and names.\n",
    "stats.py": '"""Statistics."""\n\n\ndef mean(values):\n    return sum(values) / (len(values) - 1)\n',
    "money.py": '"""Money."""\n\n\ndef to_cents(amount):\n    return int(amount * 100)\n',
    "names.py": '"""Names."""\n\n\ndef initials(name):\n    return "".join(word[0] for word in name.split()).lower()\n',
    "tests/__init__.py": "",
    "tests/test_stats.py": "from stats import mean\n\n\ndef test_mean():\n    assert mean([2, 4, 6]) == 4\n",
    "tests/test_money.py": "from money import to_cents\n\n\ndef test_to_cents():\n    assert to_cents(0.29) == 29\n",
    "tests/test_names.py": (
        'from names import initials\n\n\ndef test_initials():\n    assert initials("Ada Lovelace") == "AL"\n'
    ),
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
    ".gitignore": "__pycache__/\n",
}

TITLE = "Fix the shop helpers (planner)"
PLANNER = {"profile": "sim-planner", "workers": ["sim-fixer"], "max_workers": 4, "max_depth": 1, "name": "Pat"}


def create_repo(path: Path) -> None:
    if (path / ".git").exists():
        return
    path.mkdir(parents=True, exist_ok=True)
    for name, content in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    worktrees.git(path, "init", "-q", "-b", "main")
    worktrees.git(path, "add", "-A")
    worktrees.git(path, "commit", "-q", "-m", "shop: first version")


@transaction.atomic
def seed(team: Team) -> TaskSpec:
    """The shop repository, the planner's and fixer's profiles, and the planner task (made once)."""
    path = Path(settings.DATA_DIR) / "repos" / f"shop-{team.pk}"
    create_repo(path)
    repo, _ = Repository.objects.get_or_create(
        team=team, name="shop", defaults={"path": str(path), "verify_command": "python -m pytest -q"}
    )
    for behaviour in ("planner", "fixer"):
        ModelProfile.objects.get_or_create(
            team=team, name=f"sim-{behaviour}", defaults={"model": f"sim/{behaviour}", "family": "simulator"}
        )
    task = TaskSpec.objects.in_team(team).filter(title=TITLE).first()
    if task is None:
        task = TaskSpec.objects.create(
            team=team,
            repo=repo,
            title=TITLE,
            goal="Three helpers are wrong, each caught by its own test: make the whole suite pass.",
            acceptance=["The whole test suite passes", "No test is weakened or deleted"],
            verify_command="python -m pytest -q",
            budget_minutes=60,
            budget_tokens=400_000,
            budget_usd=4,
            planner=PLANNER,
            auto_approve=True,
        )
        task.judge_profiles.add(*ModelProfile.objects.in_team(team).filter(name__in=["judge-strict", "judge-lenient"]))
    return task
