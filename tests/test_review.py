"""The human gate: verdicts from a panel, decisions audited, approval merges and every refusal holds."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from django.db import close_old_connections

from agents import conversations, sandbox, services, worktrees
from agents.models import Agent, ModelProfile, TaskSpec
from judges import services as judging
from judges.models import Review, Verdict
from tests import factories
from tests.factories import launch_and_run, run_until_idle


def _main(task: TaskSpec) -> str:
    return worktrees.git(task.repo.path, "rev-parse", "main").strip()


def test_panel_of_two_families_recommends_with_evidence(demo):
    _, task = demo
    ada, linus = launch_and_run(task, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    good = Verdict.objects.get(agent=ada)
    assert good.recommendation == "approve"
    assert {j.family for j in good.judgements.all()} == {"sim-judge-a", "sim-judge-b"}
    assert all(c["evidence"] for j in good.judgements.all() for c in j.checklist)
    bad = Verdict.objects.get(agent=linus)
    assert bad.recommendation == "reject"
    assert "test_mean" in bad.evidence["verify"]["output"]


def test_approval_merges_into_the_target_branch_and_its_tests_pass_there(demo, bob):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    before = _main(task)
    verdict = Verdict.objects.get(agent=ada)
    judging.review_verdict(verdict, bob, "approve")
    verdict.refresh_from_db()
    ada.refresh_from_db()
    assert verdict.status == "approved" and ada.status == Agent.Status.ACCEPTED
    after = _main(task)
    assert after != before and after == verdict.merged_commit
    show = worktrees.git(task.repo.path, "show", "main:mathutil.py")
    assert "return sum(values) / len(values)" in show
    check = subprocess.run(
        [
            "git",
            "-C",
            task.repo.path,
            "worktree",
            "add",
            "--detach",
            str(Path(task.repo.path).parent / "check"),
            "main",
        ],
        capture_output=True,
    )
    assert check.returncode == 0
    tests = sandbox.run(Path(task.repo.path).parent / "check", "python -m pytest -q")
    assert tests.exit_code == 0, tests.output
    assert "5 passed" in tests.output
    audit = Review.objects.get(verdict=verdict)
    assert audit.reviewer == bob and audit.commit_sha == verdict.commit_sha and audit.outcome.startswith("merged")


def test_wrong_fix_is_rejected_with_a_line_comment_then_the_resubmission_merges(demo, bob):
    _, task = demo
    (sam,) = launch_and_run(task, [("Sam", "sim-sloppy")])
    first = Verdict.objects.get(agent=sam)
    assert first.recommendation == "reject"
    assert "test_mean" in first.evidence["verify"]["output"]
    assert first.evidence["hardcoded_suspects"] == []  # a wrong formula is not a hard-coded answer
    judging.review_verdict(
        first, bob, "reject", "", [{"path": "mathutil.py", "line": "12", "text": "Divide by n, not n - 0.5."}]
    )
    run_until_idle([sam])
    sam.refresh_from_db()
    told = [m for m in conversations.load(sam.pk) if m["role"] == "user" and "rejected your submission" in m["content"]]
    assert told and "mathutil.py line 12: Divide by n, not n - 0.5." in told[0]["content"]
    second = Verdict.objects.filter(agent=sam).latest("id")
    assert second.pk != first.pk and second.recommendation == "approve"
    judging.review_verdict(second, bob, "approve")
    assert "return sum(values) / len(values)" in worktrees.git(task.repo.path, "show", "main:mathutil.py")


@pytest.mark.parametrize("case", ["rejected_recommendation", "already_rejected", "failed_verification"])
def test_approving_a_verdict_that_did_not_pass_is_refused_and_audited(demo, bob, case):
    _, task = demo
    (linus,) = launch_and_run(task, [("Linus", "sim-lazy")])
    verdict = Verdict.objects.get(agent=linus)
    before = _main(task)
    if case == "already_rejected":
        judging.review_verdict(verdict, bob, "reject", "no")
    elif case == "failed_verification":
        Verdict.objects.filter(pk=verdict.pk).update(recommendation="needs_person")
    with pytest.raises(services.ServiceError) as refused:
        judging.review_verdict(verdict, bob, "approve")
    assert refused.value.status == 409
    assert _main(task) == before
    assert Review.objects.filter(verdict=verdict, outcome__startswith="refused").exists()


def test_approving_after_the_branch_moved_needs_a_new_verdict(demo, bob):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    Path(ada.worktree, "extra.py").write_text("x = 1\n")
    worktrees.commit_all(ada.worktree, "sneaky change after the verdict")
    before = _main(task)
    with pytest.raises(services.ServiceError, match="branch moved"):
        judging.review_verdict(verdict, bob, "approve")
    assert _main(task) == before
    verdict.refresh_from_db()
    assert verdict.status == "pending"


def test_two_approvals_at_once_merge_exactly_once(demo, adele, bob):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    before = _main(task)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(user):
        close_old_connections()
        barrier.wait()
        try:
            judging.review_verdict(Verdict.objects.get(pk=verdict.pk), user, "approve")
            outcomes.append("merged")
        except services.ServiceError as exc:
            outcomes.append(f"refused {exc.status}")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (adele, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["merged", "refused 409"]
    merges = worktrees.git(task.repo.path, "rev-list", "--merges", f"{before}..main").split()
    assert len(merges) == 1


def test_a_planted_hook_does_not_run_when_the_host_merges(demo, bob, tmp_path):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    marker = tmp_path / "hook-ran"
    hooks = Path(task.repo.path, ".git", "hooks")
    for name in (
        "post-merge",
        "pre-commit",
        "post-commit",
        "reference-transaction",
        "post-checkout",
        "pre-merge-commit",
    ):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
        hook.chmod(0o755)
    # positive control: git run the ordinary way does run the planted hook
    subprocess.run(["git", "-C", task.repo.path, "commit", "--allow-empty", "-qm", "control"], check=True)
    assert marker.exists()
    # main back where Ada started (else her work would first be brought up to date with the control commit)
    subprocess.run(["git", "-C", task.repo.path, "reset", "-q", "--hard", "HEAD~1"], check=True)
    marker.unlink()
    verdict = Verdict.objects.get(agent=ada)
    Verdict.objects.filter(pk=verdict.pk).update(commit_sha=verdict.commit_sha)  # unchanged head
    judging.review_verdict(verdict, bob, "approve")
    verdict.refresh_from_db()
    assert verdict.status == "approved"
    assert not marker.exists()


def test_another_teams_verdict_is_not_found(demo, mallory, client):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    client.force_login(mallory)
    assert client.get(f"/reviews/verdicts/{verdict.pk}/").status_code == 404
    assert client.post(f"/reviews/verdicts/{verdict.pk}/patch/").status_code == 404
    assert not ada.events.filter(kind="exported").exists()
    assert client.post(f"/reviews/verdicts/{verdict.pk}/approve/").status_code == 404
    verdict.refresh_from_db()
    assert verdict.status == "pending"
    assert not Review.objects.filter(verdict=verdict).exists()


def test_approve_without_a_verdict_is_not_possible(demo, alice_client):
    _, task = demo
    agents = services.launch_task(task)
    factories.run_step(agents[0].pk)  # still working: no submission, so no verdict to approve
    assert not Verdict.objects.filter(agent=agents[0]).exists()
    ids = list(Verdict.objects.values_list("pk", flat=True))
    unknown = max(ids, default=0) + 1
    response = alice_client.post(f"/reviews/verdicts/{unknown}/approve/")
    assert response.status_code == 404
    agents[0].refresh_from_db()
    assert agents[0].status == Agent.Status.RUNNING
    assert _main(task) == worktrees.git(task.repo.path, "rev-parse", "main").strip()
    assert not Review.objects.exists()


def test_the_review_page_shows_the_diff_judges_side_by_side_and_takes_line_comments(demo, bob_client):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    page = bob_client.get(f"/reviews/verdicts/{verdict.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "mathutil.py" in html and "judge-strict" in html and "judge-lenient" in html
    assert 'class="add"' in html
    split = bob_client.get(f"/reviews/verdicts/{verdict.pk}/?view=split")
    assert split.status_code == 200
    form = bob_client.get(f"/reviews/verdicts/{verdict.pk}/comment-form/?path=mathutil.py&line=12")
    assert 'name="line_comment"' in form.content.decode() and "mathutil.py:12" in form.content.decode()
    assert f'action="/reviews/verdicts/{verdict.pk}/patch/"' in html  # a form: exporting is recorded
    assert bob_client.get(f"/reviews/verdicts/{verdict.pk}/patch/").status_code == 405
    assert not ada.events.filter(kind="exported").exists()  # a link, a prefetch or a crawler exports nothing
    patch = bob_client.post(f"/reviews/verdicts/{verdict.pk}/patch/")
    assert patch.status_code == 200 and b"+    return sum(values) / len(values)" in patch.content
    assert ada.events.filter(kind="exported").count() == 1


def test_a_criterions_own_check_command_is_run_and_can_fail_the_verdict(demo, bob):
    _, task = demo
    task.acceptance = [
        "mean() of one value is that value — check: `python -c 'from mathutil import mean; assert mean([5]) == 5'`",
        "clamp() is unchanged — check: `python -c 'from mathutil import clamp; assert clamp(15, 0, 10) == 11'`",
    ]
    task.save()
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    checks = {c["command"].split("assert ")[1][:12]: c["exit_code"] for c in verdict.evidence["criterion_checks"]}
    assert checks == {"mean([5]) ==": 0, "clamp(15, 0,": 1}
    assert verdict.recommendation == "reject"
    assert any("criterion check" in r for r in verdict.reasons)
    with pytest.raises(services.ServiceError, match="Verification did not pass"):
        judging.review_verdict(verdict, bob, "approve")


def test_verification_runs_on_the_submitted_commit_not_on_files_left_in_the_worktree(demo):
    _, task = demo
    ada = services.launch_task(task)[0]
    ada.refresh_from_db()
    # the fix is in the worktree but was never committed: the submitted commit is the unchanged base
    mathutil = Path(ada.worktree, "mathutil.py")
    mathutil.write_text(mathutil.read_text().replace("(len(values) - 1)", "len(values)"))
    Agent.objects.filter(pk=ada.pk).update(status=Agent.Status.AWAITING_REVIEW, submitted_commit=ada.base_commit)
    verdict = judging.verify_submission(ada.pk, ada.base_commit, "it works on my machine")
    assert verdict.evidence["verify"]["exit_code"] != 0
    assert "test_mean" in verdict.evidence["verify"]["output"]
    assert verdict.recommendation == "reject"


def test_a_judge_that_answers_garbage_twice_counts_as_an_error_never_an_approval(demo, monkeypatch):
    from tests.openai_server import OpenAIServer, reply

    _, task = demo
    monkeypatch.setenv("SWARM_TEST_KEY", "judge-key")
    with OpenAIServer() as server:
        server.script(reply("I think it is fine!"), reply("Approve. Definitely approve."))
        garbage = ModelProfile.objects.create(
            team=task.team,
            name="garbage-judge",
            model="openai/test-model",
            api_base=server.base_url,
            api_key_env="SWARM_TEST_KEY",
            family="test",
        )
        task.judge_profiles.set([garbage, ModelProfile.objects.get(team=task.team, name="judge-lenient")])
        task.judge_rule = "majority"
        task.save()
        (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=ada)
    opinions = {j.judge: j for j in verdict.judgements.all()}
    assert opinions["garbage-judge"].recommendation == "error"
    assert "malformed verdict" in opinions["garbage-judge"].error
    assert opinions["judge-lenient"].recommendation == "approve"
    assert len(server.requests) == 2  # asked once more, then it failed closed
    # one approval and one error of two judges is no majority: a person decides
    assert verdict.recommendation == "needs_person"


def test_auto_approve_merges_only_with_passing_verification_and_a_unanimous_panel(demo):
    _, task = demo
    task.auto_approve = True
    task.save()
    ada, linus = launch_and_run(task, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    ada.refresh_from_db()
    linus.refresh_from_db()
    assert ada.status == Agent.Status.ACCEPTED
    review = Review.objects.get(verdict__agent=ada)
    assert review.reviewer is None and review.outcome.startswith("merged")
    assert linus.status == Agent.Status.AWAITING_REVIEW
    assert Verdict.objects.get(agent=linus).status == "pending"


def test_a_merge_conflict_changes_nothing_on_main_and_sends_the_hunks_back_to_the_agent(demo, bob):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    # someone changed the same line on main meanwhile
    target = Path(task.repo.path, "mathutil.py")  # the repository has main checked out
    target.write_text(target.read_text().replace("(len(values) - 1)", "max(1, len(values) - 1)"))
    worktrees.commit_all(task.repo.path, "a competing change")
    before = _main(task)
    verdict = Verdict.objects.get(agent=ada)
    with pytest.raises(services.ServiceError, match="conflicts with main in mathutil.py. It was sent back"):
        judging.review_verdict(verdict, bob, "approve")
    verdict.refresh_from_db()
    assert verdict.status == "superseded"
    assert _main(task) == before
    assert Review.objects.get(verdict=verdict).outcome.startswith("conflict: sent back to the agent")
    ada.refresh_from_db()
    assert ada.status == Agent.Status.RUNNING and "conflicts with main" in ada.status_reason
    assert "max(1, len(values) - 1)" in ada.messages.get().text  # the hunk, both sides


def test_a_verification_lost_with_its_worker_is_run_again_by_the_sweep_exactly_once(demo):
    from agents.scheduling import sweep

    _, task = demo
    (ada,) = services.launch_task(
        _clone := TaskSpec.objects.create(
            team=task.team,
            repo=task.repo,
            title="lost verification",
            goal=task.goal,
            verify_command=task.verify_command,
            roster=[{"name": "Ada", "profile": "sim-diligent"}],
        )
    )
    mathutil = Path(ada.worktree, "mathutil.py")
    mathutil.write_text(mathutil.read_text().replace("(len(values) - 1)", "len(values)"))
    commit = worktrees.commit_all(ada.worktree, "the fix")
    # the worker died between the submission and its verdict
    Agent.objects.filter(pk=ada.pk).update(status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit)
    assert judging.lost_verifications() == [(ada.pk, commit)]
    sweep.resume_orphans()
    assert Verdict.objects.filter(agent=ada, commit_sha=commit).count() == 1
    assert judging.lost_verifications() == []
    sweep.resume_orphans()  # a second sweep finds nothing to redo
    assert Verdict.objects.filter(agent=ada).count() == 1
    assert judging.verify_submission(ada.pk, commit, "again") is None


def test_a_decided_verdict_shows_who_decided_the_comment_and_the_merge(demo, bob_client):
    _, task = demo
    ada, linus = launch_and_run(task, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    htmx = {"HTTP_HX_REQUEST": "true"}  # the fragment that replaces the verdict in place
    done = bob_client.post(
        f"/reviews/verdicts/{Verdict.objects.get(agent=ada).pk}/approve/", {"comment": "Clean fix."}, **htmx
    )
    approved = Verdict.objects.get(agent=ada)
    html = done.content.decode()
    assert "Approved</strong> by bob" in html and approved.merged_commit[:10] in html and "Clean fix." in html
    done = bob_client.post(
        f"/reviews/verdicts/{Verdict.objects.get(agent=linus).pk}/reject/", {"comment": "You changed nothing."}, **htmx
    )
    html = done.content.decode()
    assert "Rejected</strong> by bob" in html and "You changed nothing." in html
