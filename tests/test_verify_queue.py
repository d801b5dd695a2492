"""Verification is its own job on its own queue: a slow verify command never takes an agent's step slot, and a
verification whose queue was lost is queued again by a sweep (test_review.py covers one lost mid-run), while one
that merely lasts longer than its lease is left to finish alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from django.db import connection

from agents import services
from agents.models import Agent
from agents.scheduling import sweep
from judges import services as judging
from judges.models import Verdict
from tests.factories import task_like
from tests.live_server import ROOT
from tests.waiting import wait_until

DEADLINE = 90  # seconds; generous for a loaded machine


def test_a_slow_verification_leaves_the_only_step_thread_to_the_other_agents(demo, embedded):
    _, task = demo
    slow = task_like(task, [("Ada", "sim-lazy")])
    # run twice, at the submission and at its base: 40 s in which Bea's two steps must come, however loaded the
    # machine (with `sleep 8`, 16 s)
    slow.verify_command = "sleep 20"
    slow.save()
    (ada,) = services.launch_task(slow)
    (bea,) = services.launch_task(task_like(task, [("Bea", "sim-diligent")]))
    wait_until(
        lambda: Agent.objects.filter(pk=ada.pk, status=Agent.Status.AWAITING_REVIEW).exists(),
        "Ada's submission",
        DEADLINE,
    )
    bea_then = Agent.objects.get(pk=bea.pk).steps
    # Ada's verification sleeps 2 x 20 s; meanwhile the one step thread keeps serving Bea
    wait_until(lambda: Agent.objects.get(pk=bea.pk).steps >= bea_then + 2, "two more steps of Bea", DEADLINE)
    assert not Verdict.objects.filter(agent_id=ada.pk).exists(), "Bea's steps waited for Ada's verification"
    verdict = wait_until(lambda: Verdict.objects.filter(agent_id=ada.pk).first(), "Ada's verdict", DEADLINE)
    assert verdict.evidence["verify"]["exit_code"] == 0


def test_a_queued_verification_is_left_alone_by_sweeps_until_a_restart_finds_its_queue_gone(demo):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-lazy")]))
    commit = Agent.objects.get(pk=ada.pk).base_commit
    Agent.objects.filter(pk=ada.pk).update(status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit)
    assert judging.mark_queued(ada.pk, commit)  # queued in a verify queue that is long, or that died
    assert judging.lost_verifications() == []  # a periodic sweep does not queue it twice
    sweep.resume_orphans()
    assert not Verdict.objects.filter(agent_id=ada.pk).exists()
    # a (re)start: an embedded queue died with its process, so the start-up sweep queues it again (and the
    # manual scheduler of the tests runs it at once)
    sweep.resume_orphans(startup=True)
    assert Verdict.objects.filter(agent_id=ada.pk, commit_sha=commit).count() == 1
    sweep.resume_orphans(startup=True)
    assert Verdict.objects.filter(agent_id=ada.pk).count() == 1


def test_a_verification_longer_than_its_lease_is_not_taken_for_lost_and_run_twice(demo):
    _, task = demo
    slow = task_like(task, [("Ada", "sim-lazy")])
    slow.verify_command = "sleep 15"  # run twice (at the submission and at its base): three leases long
    slow.save()
    (ada,) = services.launch_task(slow)
    commit = Agent.objects.get(pk=ada.pk).base_commit
    Agent.objects.filter(pk=ada.pk).update(status=Agent.Status.AWAITING_REVIEW, submitted_commit=commit)
    # another process verifies it, on a 10-second lease (renewed every 3.3 s: a renewal may come 6.7 s late before
    # the lease lapses; 2 s was lost at load 20, and a 5-second lease's 3.3 s of slack is not much more)
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.step_holder", connection.settings_dict["NAME"], str(ada.pk), "verify", commit],
        cwd=ROOT,
        env={**os.environ, "SWARM_LEASE_SECONDS": "10"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: ada.events.filter(kind="verification").exists(), "the verification started", DEADLINE)
        while holder.poll() is None:  # this process sweeps meanwhile, well past the holder's lease
            sweep.resume_orphans()
            time.sleep(0.5)
    finally:
        out = holder.communicate(timeout=60)[0]
    assert "VERDICT <Verdict" in out, out
    assert ada.events.filter(kind="verification", payload__state="started").count() == 1
    assert Verdict.objects.filter(agent_id=ada.pk).count() == 1
    assert Agent.objects.get(pk=ada.pk).lease_expires_at is None
