"""The scale-out mode: agents driven only by Celery worker processes on real Redis and PostgreSQL.

The deployment, its workers and what the demo's agents are expected to do are tests/distributed.py's; the tests kill
workers at the hard moments and read the outcome straight from PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.distributed import (
    BUGGY_LINE,
    EXPECTED,
    FIXED_LINE,
    REDIS_DB,
    SLOW_STEP_DELAY,
    Swarm,
    say,
    scale_out_env,
)
from tests.live_server import distributed_services, flush_redis_db

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A fresh, migrated PostgreSQL database and a data dir, shared by this module's tests (one team each)."""
    with distributed_services(REDIS_DB, "swarm_scale_out") as services:
        env = scale_out_env(services["DATABASE_URL"], services["REDIS_URL"])
        migrated = Swarm(data_dir=tmp_path_factory.mktemp("scale-out-"), extra_env=env)
        migrated.manage("migrate", "--noinput", "-v0")
        say(f"migrated a fresh PostgreSQL database in {migrated.elapsed()}")
        yield migrated


@pytest.fixture
def swarm(deployment, request):
    """This test's demo team in the deployment, an empty broker, and no worker yet; its workers die with it."""
    flush_redis_db(REDIS_DB)  # no step task of an earlier test may reach this test's workers
    swarm = Swarm(data_dir=deployment.data_dir, extra_env=deployment.extra_env, team=request.node.name[:60])
    try:
        yield swarm
    finally:
        swarm.stop()
        flush_redis_db(REDIS_DB)


def _events(swarm: Swarm, agent_id: int) -> tuple[list[tuple[int, str, dict]], int]:
    """The agent's events and its seq counter, from one snapshot (verification may still be appending)."""
    rows = swarm.rows(
        """
        SELECT e.seq, e.kind, e.payload, a.next_seq FROM agents_event e JOIN agents_agent a ON a.id = e.agent_id
        WHERE e.agent_id = %s ORDER BY e.seq
        """,
        agent_id,
    )
    return [row[:3] for row in rows], (rows[-1][3] if rows else 1)


def _assert_each_agent_did_its_work_exactly_once(swarm: Swarm) -> None:
    verdicts = swarm.verdicts()
    for name, agent in swarm.agents().items():
        events, next_seq = _events(swarm, agent["id"])
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}: event seqs have a gap or a duplicate: {seqs}"
        assert next_seq == len(seqs) + 1, f"{name}: counter {next_seq} after {len(seqs)} events"

        expected_tools, expected_turns = EXPECTED[name]
        tools = [payload["tool"] for _, kind, payload in events if kind == "tool_call"]
        turns = [seq for seq, kind, _ in events if kind == "model_turn"]
        assert tools == expected_tools, f"{name}: tool calls {tools}, a step ran twice or was lost"
        assert len(turns) == expected_turns == agent["steps"], (
            f"{name}: {len(turns)} model turns recorded for {agent['steps']} steps, expected {expected_turns}"
        )
        assert not agent["leased"], f"{name} still holds a live lease after its verdict"
        assert verdicts[name] == 1, f"{name}'s submission got {verdicts[name]} verdicts"

        source = (Path(agent["worktree"]) / "mathutil.py").read_text()
        if "edit_file" in expected_tools:
            edits = [p for _, kind, p in events if kind == "tool_call" and p["tool"] == "edit_file" and p["ok"]]
            assert len(edits) == 1, f"{name}: {len(edits)} successful edits of mathutil.py"
            assert source.count(FIXED_LINE) == 1 and BUGGY_LINE not in source, f"{name}'s mathutil.py:\n{source}"
        else:
            assert source.count(BUGGY_LINE) == 1, f"{name} (lazy) changed mathutil.py:\n{source}"


def test_demo_swarm_finishes_on_celery_workers(swarm):
    swarm.start_worker()
    agents = swarm.launch_demo()
    assert sorted(agents) == sorted(EXPECTED)

    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
    log = swarm.worker_logs()
    ran = log.count("Task agents.step[")
    assert "succeeded in" in log and ran >= sum(turns for _, turns in EXPECTED.values()), log[-5000:]
    say(f"{ran} agents.step task lines in the worker log")


def test_killing_the_worker_mid_run_loses_no_step_and_duplicates_none(swarm):
    first = swarm.start_worker(pool="prefork")  # the group: the worker, its pool processes, their sandboxes
    swarm.launch_demo()

    def in_the_sandbox() -> list[str]:
        # the hard moment: the step's model turn is saved and its verify command is running in the sandbox
        return [
            name
            for (name,) in swarm.rows(
                """
                SELECT a.name FROM agents_agent a WHERE a.task_id = %s AND a.lease_expires_at IS NOT NULL
                AND (SELECT e.payload->>'text' FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'model_turn'
                     AND e.seq = a.next_seq - 1) LIKE '%%verify command%%'
                """,
                swarm.task_id,
            )
        ]

    swarm.wait_for("an agent running its verify command", lambda: bool(in_the_sandbox()), 60, poll=0.05)
    swarm.kill_worker(first)
    cut_short = in_the_sandbox()
    running = sorted(n for n, a in swarm.agents().items() if a["status"] == "running")
    say(f"at the kill: running {running}, cut short in the sandbox {cut_short}")
    assert cut_short, "the kill did not land inside a step"

    swarm.start_worker()
    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
    stuck = swarm.rows(
        "SELECT name FROM agents_agent WHERE task_id = %s AND status = 'running' AND lease_expires_at < now()",
        swarm.task_id,
    )
    assert stuck == []


def test_only_the_newest_schedule_runs_a_step(swarm):
    from celery import Celery

    swarm.step_delay = SLOW_STEP_DELAY  # a slow live chain, so that steps run by stale tasks would stand out
    swarm.start_worker()
    agents = swarm.launch_demo()
    ada = agents["Ada"]

    # Ada between two steps: the live chain has one step task scheduled, with the newest token
    swarm.wait_for(
        "Ada between two steps",
        lambda: (a := swarm.agents()["Ada"])["steps"] >= 1 and a["status"] == "running",
        30,
    )
    before = swarm.agents()["Ada"]
    newest = before["schedule_token"]
    stale = [(newest - 1 - i) % newest for i in range(12)]  # the previous token, and older ones
    client = Celery("stale-sender", broker=swarm.redis_url)
    try:
        sent = [
            # on the steps queue, as the app routes them (a bare client's default queue is "celery", which no worker serves)
            client.send_task("agents.step", args=[ada, token], countdown=0.25 * i, queue="steps").id
            for i, token in enumerate(stale)
        ]
    finally:
        client.close()
    sent_at = time.monotonic()

    # had any stale task run a step, Ada would take one step per stale task, far faster than STEP_DELAY paces her
    swarm.wait_for(
        "every stale step task processed",
        lambda: all(f"Task agents.step[{task_id}] succeeded" in swarm.worker_logs() for task_id in sent),
        30,
    )
    window = time.monotonic() - sent_at
    after = swarm.agents()["Ada"]
    live_chain = 1 + int(window / SLOW_STEP_DELAY)
    say(f"{len(sent)} stale tasks processed in {window:.1f}s; Ada's steps {before['steps']} -> {after['steps']}")
    assert after["steps"] - before["steps"] <= live_chain, "a stale schedule ran a step"

    swarm.wait_until_reviewable()
    _assert_each_agent_did_its_work_exactly_once(swarm)


def test_a_verification_cut_short_by_a_worker_crash_still_ends_in_a_verdict(swarm):
    first = swarm.start_worker()
    swarm.launch_demo()

    def being_verified() -> list[str]:
        return [
            name
            for (name,) in swarm.rows(
                """
                SELECT a.name FROM agents_agent a WHERE a.task_id = %s
                AND EXISTS (SELECT 1 FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'verification')
                AND NOT EXISTS (SELECT 1 FROM agents_event e WHERE e.agent_id = a.id AND e.kind = 'verdict')
                """,
                swarm.task_id,
            )
        ]

    # the lazy agents submit at their first step: kill the worker while the sandbox verifies a submission
    swarm.wait_for("a submission being verified", lambda: bool(being_verified()), 60, poll=0.05)
    swarm.kill_worker(first)
    cut_short = being_verified()
    say(f"at the kill, being verified: {cut_short}")
    assert cut_short, "the kill did not land during a verification"

    swarm.start_worker()
    swarm.wait_until_reviewable()

    _assert_each_agent_did_its_work_exactly_once(swarm)
