"""A judge that investigates with tools (judges/investigator.py): in a checkout of the submitted commit it runs a test
the submission did not mention, catches a regression the task's narrow verify command misses, and its verdict quotes
what it ran; the verdict page shows what it checked and what judging cost. A sound submission it approves."""

from __future__ import annotations

import pytest

from agents import services
from agents.models import Agent, ModelProfile, TaskSpec
from judges.models import Judgement, Verdict
from tests import factories
from tests.openai_server import reply
from tests.real_models import profile_for

NARROW = "python -m pytest -q tests/test_mathutil.py::test_mean"


pytestmark = pytest.mark.usefixtures("model_key")


def _task(demo, roster: list[dict]) -> TaskSpec:
    team, demo_task = demo
    task = TaskSpec.objects.create(
        team=team,
        repo=demo_task.repo,
        title="Fix mean()",
        goal=demo_task.goal,
        acceptance=["mean([2, 4, 6]) == 4"],
        verify_command=NARROW,  # checks mean() only: a regression elsewhere passes it
        budget_minutes=30,
        budget_tokens=200_000,
        budget_usd=2,
        roster=roster,
    )
    judges = ModelProfile.objects.in_team(team).filter(name__in=["judge-strict", "judge-investigator"])
    task.judge_profiles.add(*judges)
    return task


def test_a_judge_agent_runs_the_tests_the_submission_did_not_mention_and_catches_a_regression(demo, server, bob_client):
    profile_for(server, team=demo[0])
    task = _task(demo, [{"name": "Hopper", "profile": "test-openai"}])
    (hopper,) = services.launch_task(task)
    server.script(
        reply("Reading.", ("read_file", {"path": "mathutil.py"})),
        reply("Fixing mean.", ("edit_file", {"path": "mathutil.py", "old": "(len(values) - 1)", "new": "len(values)"})),
        reply("Reading.", ("read_file", {"path": "textutil.py"})),
        # a "tidy-up" that breaks slugify(): the task's verify command never runs its test
        reply("Tidying.", ("edit_file", {"path": "textutil.py", "old": "text.lower()", "new": "text"})),
        reply("Checking.", ("run_command", {"command": NARROW})),
        reply("Done.", ("submit", {"summary": "Fixed mean(); the verify command passes."})),
    )
    factories.run_until_idle([hopper])
    hopper.refresh_from_db()
    assert hopper.status == Agent.Status.AWAITING_REVIEW
    verdict = Verdict.objects.get(agent=hopper)
    assert verdict.evidence["verify"]["exit_code"] == 0  # the narrow verify command passed
    plain = Judgement.objects.get(verdict=verdict, judge="judge-strict")
    investigator = Judgement.objects.get(verdict=verdict, judge="judge-investigator")
    assert plain.recommendation == "approve" and not plain.checked  # the evidence alone looked fine
    assert investigator.recommendation == "reject"
    assert [c["args"]["command"] for c in investigator.checked] == ["python -m pytest -q"]
    assert "FAILED tests/test_textutil.py::test_slugify" in investigator.checked[0]["result"]
    assert any("FAILED tests/test_textutil.py::test_slugify" in r for r in investigator.reasons)
    assert investigator.seconds > 0 and investigator.tokens > 0
    assert verdict.recommendation == "reject"  # unanimous rule: one reject is enough

    page = bob_client.get(f"/reviews/verdicts/{verdict.pk}/").content.decode()
    assert "What judge-investigator checked: 1 call" in page
    assert "FAILED tests/test_textutil.py::test_slugify" in page
    assert "Judging: 2 judges" in page


def test_a_judge_agent_approves_a_sound_submission_after_running_the_suite(demo):
    task = _task(demo, [{"name": "Ada", "profile": "sim-diligent"}])
    (ada,) = services.launch_task(task)
    factories.run_until_idle([ada])
    verdict = Verdict.objects.get(agent=ada)
    investigator = Judgement.objects.get(verdict=verdict, judge="judge-investigator")
    assert investigator.recommendation == "approve", investigator.reasons
    assert "passed" in investigator.checked[0]["result"]
    assert verdict.recommendation == "approve"
