"""SWE-bench instances as tasks, on a real bug of a real project: inflection's "passerby" pluralized as "passerbys"
(upstream commit 1969b3a, MIT; tests/data/swebench/README.md). The instance becomes a task on branch
swe/<instance_id> (the base commit with the test patch), whose verify command fails there and passes once the
reference patch is applied; the PASS_TO_PASS tests are the judges' regression check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from agents import hostgit, sandbox, services, worktrees
from agents.models import Repository, TaskSpec
from judges import panel

DATA = Path(__file__).resolve().parent / "data" / "swebench"
INSTANCE = json.loads((DATA / "jpvanhal__inflection-1969b3a.json").read_text())
BRANCH = "swe/jpvanhal__inflection-1969b3a"
DEFAULTS = {"roster": ["2 x sim-diligent"], "judges": ["judge-strict", "judge-lenient"], "budgets": {"minutes": 5}}

pytestmark = pytest.mark.timeout(300)


def _inflection(team) -> Repository:
    """inflection's history up to the bug's base commit, from the committed bundle, as one of the team's repositories."""
    path = Path(settings.DATA_DIR) / "repos" / f"inflection-swe-{team.pk}"
    if not path.exists():
        subprocess.run(["git", "clone", "-q", "-b", "master", str(DATA / "inflection.bundle"), str(path)], check=True)
    return Repository.objects.create(team=team, name="inflection", path=str(path), default_branch="master")


def _run(checkout: Path, command: str) -> dict:
    return sandbox.run(checkout, command).as_dict()


def test_an_instance_becomes_a_task_whose_verify_command_fails_before_the_reference_patch_and_passes_after(
    admin_api, demo
):
    team, _ = demo
    repo = _inflection(team)
    answer = admin_api.post("/api/swebench", {"text": json.dumps(INSTANCE), "defaults": DEFAULTS})
    assert answer.status_code == 201, answer.json()
    task = TaskSpec.objects.get(pk=answer.json()["tasks"][0]["id"])
    assert task.title == "SWE-bench jpvanhal__inflection-1969b3a" and task.target_branch == BRANCH
    assert task.goal == INSTANCE["problem_statement"]
    for test in json.loads(INSTANCE["FAIL_TO_PASS"]):  # each node id quoted for the shell
        assert f"'{test}'" in task.verify_command
    regression = next(c for c in task.acceptance if "tests that passed before" in c)
    check = panel.CHECK.search(regression).group(1)  # the command the judges run for it

    # the branch: the base commit and, on top, the instance's test patch committed by the host
    head = hostgit.git(repo.path, "rev-parse", BRANCH).strip()
    assert hostgit.git(repo.path, "rev-parse", f"{BRANCH}~1").strip() == INSTANCE["base_commit"]
    assert "passersby" in hostgit.git(repo.path, "show", f"{BRANCH}:test_inflection.py")

    with worktrees.detached(repo.path, head, "swe-before") as checkout:
        before = _run(checkout, task.verify_command)
        assert before["exit_code"] != 0
        assert "3 failed" in before["output"], before["output"][-2000:]
        assert _run(checkout, check)["exit_code"] == 0  # PASS_TO_PASS pass at the base too
        hostgit.git(checkout, "apply", "-", input=INSTANCE["patch"])  # the reference patch
        after = _run(checkout, task.verify_command)
        assert after["exit_code"] == 0, after["output"][-2000:]
        assert "3 passed" in after["output"]
        assert _run(checkout, check)["exit_code"] == 0

    # agents start from the instance's branch, and approved work is merged into it
    agents = services.launch_task(task)
    assert {a.base_commit for a in agents} == {head}
    assert [r["profile"] for r in task.roster] == ["sim-diligent", "sim-diligent"]

    # importing it again makes another task on the same branch; a branch moved elsewhere is never overwritten
    assert admin_api.post("/api/swebench", {"text": json.dumps(INSTANCE), "defaults": DEFAULTS}).status_code == 201
    hostgit.git(repo.path, "branch", "-f", BRANCH, INSTANCE["base_commit"])
    moved = admin_api.post("/api/swebench", {"text": json.dumps(INSTANCE), "defaults": DEFAULTS})
    assert moved.status_code == 409 and "kept" in moved.json()["error"]


def test_an_instance_is_refused_naming_what_is_wrong_and_no_task_is_made(admin_api, demo):
    team, _ = demo
    repo = _inflection(team)
    before = TaskSpec.objects.count()
    cases = [
        ({**INSTANCE, "base_commit": "0" * 40}, "instances[0].base_commit", "not in inflection"),
        ({**INSTANCE, "test_patch": INSTANCE["patch"].replace("(ox)", "(oxen)")}, "instances[0].test_patch", "apply"),
        ({**INSTANCE, "repo": "someone/else"}, "instances[0].repository", "names no repository"),
        ({**INSTANCE, "instance_id": "../../etc"}, "instances[0].instance_id", "letters, digits"),
        ({**INSTANCE, "FAIL_TO_PASS": "not json"}, "instances[0].FAIL_TO_PASS", "list of test ids"),
    ]
    for record, field, words in cases:
        answer = admin_api.post("/api/swebench", {"text": json.dumps(record), "defaults": DEFAULTS})
        assert answer.status_code == 400, (field, answer.json())
        assert answer.json()["field"] == field and words in answer.json()["error"], answer.json()
    jsonl = "\n".join([json.dumps(INSTANCE), "{not json"])
    answer = admin_api.post("/api/swebench", {"text": jsonl, "defaults": DEFAULTS})
    assert answer.status_code == 400 and "line 2" in answer.json()["error"]
    unknown = admin_api.post("/api/swebench", {"text": json.dumps(INSTANCE), "defaults": {"colour": "blue"}})
    assert unknown.status_code == 400 and unknown.json()["field"] == "defaults.colour"
    assert TaskSpec.objects.count() == before
    assert hostgit.git(repo.path, "branch", "--list", "swe/*").strip() == ""
