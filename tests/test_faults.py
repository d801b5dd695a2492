"""Faults a deployment meets: steps longer than their lease, holders that die, processes stopped with SIGTERM.

The step holders here are real separate processes (tests/step_holder.py) running a real sandboxed command, killed
with SIGKILL like a crashed worker; the tests watch the lease in the database the way a second worker would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from agents import conversations, lease, services
from agents.models import Agent
from agents.scheduling import sweep
from tests import factories
from tests.live_server import ROOT, kill_group
from tests.sandboxes import processes_with
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)
LEASE = 4  # seconds: the lease of a holder whose step outlasts it


def _one_agent_in_front_of_a_long_command(demo, command: str) -> Agent:
    """Ada (diligent) with three steps done: her next step runs the verify command, here a long one."""
    _, template = demo
    task = factories.task_like(template, [("Ada", "sim-diligent")])
    task.verify_command = command
    task.save(update_fields=["verify_command"])
    (ada,) = services.launch_task(task)
    for _ in range(3):  # list_files, read_file, read_file
        factories.run_step(ada.pk)
    ada.refresh_from_db()
    assert ada.steps == 3 and ada.status == Agent.Status.RUNNING and ada.lease_expires_at is None
    return ada


class Holder:
    """A separate process running the agent's next step; its own session, so a kill takes its sandbox too."""

    def __init__(self, agent: Agent, lease_seconds: int):
        env = {**os.environ, "SWARM_LEASE_SECONDS": str(lease_seconds), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.step_holder", str(connection.settings_dict["NAME"]), str(agent.pk)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.agent_id = agent.pk

    def agent(self) -> Agent:
        return Agent.objects.get(pk=self.agent_id)

    def wait_in_command(self, timeout: float = 90) -> Agent:
        """Until the holder took the lease and its model turn asked for the verify command (now running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            agent = self.agent()
            turns = list(agent.events.filter(kind="model_turn").values_list("payload", flat=True))
            if agent.lease_owner.split(":")[1:2] == [str(self.proc.pid)] and agent.lease_expires_at and len(turns) == 4:
                return agent
            assert self.proc.poll() is None, self.proc.stdout.read()
            time.sleep(0.1)
        raise AssertionError(f"the holder never reached its command: {self.agent().__dict__}")

    def kill(self) -> None:
        kill_group(self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()


@pytest.fixture
def holders():
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


def test_a_step_longer_than_its_lease_keeps_it_while_its_holder_lives_and_loses_it_when_the_holder_dies(
    demo, holders, settings
):
    ada = _one_agent_in_front_of_a_long_command(demo, "sleep 60")
    # a 4 s lease, renewed every 1.3 s: a beat may come 2.7 s late before the lease lapses (CI's load once
    # delayed one past a 2 s lease's 1.3 s of slack on PostgreSQL)
    holder = Holder(ada, lease_seconds=LEASE)
    holders.append(holder)
    first = holder.wait_in_command()

    # nine seconds, over two leases: another claimant never gets it while the holder lives
    watched_until = time.monotonic() + 9
    while time.monotonic() < watched_until:
        assert lease.claim(ada.pk) is None, "another worker took the step of a live holder"
        time.sleep(0.2)
    renewed = holder.agent()
    assert holder.proc.poll() is None
    assert timezone.now() > first.lease_expires_at, "the first lease should be long over by now"
    assert renewed.lease_expires_at > timezone.now(), "the holder's lease was not renewed"
    assert renewed.fencing_token == first.fencing_token and renewed.lease_owner == first.lease_owner

    holder.kill()
    killed_at = time.monotonic()
    token = None
    while token is None and time.monotonic() - killed_at < LEASE + 15:
        token = lease.claim(ada.pk)
        time.sleep(0.1)
    waited = time.monotonic() - killed_at
    assert token == first.fencing_token + 1, "nobody took over the step of the dead holder"
    # at the lease's end (at most LEASE after the last beat), with room for a loaded machine's claims and kill; long
    # before the periodic sweep (30 s) would free it
    assert waited <= LEASE + 4, f"takeover {waited:.1f} s after the kill, the lease is {LEASE} s"
    assert Agent.objects.get(pk=ada.pk).lease_owner == lease.worker_id()
    # the dead holder's unfinished call left no trace: the new holder runs it again
    assert not holder.agent().events.filter(kind="tool_call", payload__tool="run_command").exists()


def test_a_sweep_frees_at_once_the_lease_of_a_holder_that_died_on_this_host_and_never_a_live_ones(demo, holders):
    ada = _one_agent_in_front_of_a_long_command(demo, "sleep 60")
    holder = Holder(ada, lease_seconds=300)
    holders.append(holder)
    held = holder.wait_in_command()

    sweep.resume_orphans()  # the holder lives: its five-minute lease stays
    assert lease.claim(ada.pk) is None
    assert holder.agent().lease_expires_at == held.lease_expires_at

    holder.kill()
    assert lease.claim(ada.pk) is None, "the lease of a just-killed holder is still valid until a sweep"
    started = time.monotonic()
    sweep.resume_orphans()
    token = lease.claim(ada.pk)
    assert token == held.fencing_token + 1
    # at once: far less than the 300 s lease (a loaded machine's sweep and claim may take seconds)
    assert time.monotonic() - started < 30, "the dead holder's lease was not freed at once"


def test_a_step_whose_lease_was_taken_stops_its_command_and_leaves_no_trace(demo, holders):
    ada = _one_agent_in_front_of_a_long_command(demo, "sleep 60")
    holder = Holder(ada, lease_seconds=2)
    holders.append(holder)
    held = holder.wait_in_command()

    # a stalled holder's lease was taken over meanwhile (what a second worker does after the expiry)
    Agent.objects.filter(pk=ada.pk).update(fencing_token=held.fencing_token + 1, lease_owner="someone-else")
    try:  # far less than the 60 s command: its heartbeat noticed (a patience for CI's load; quiet: ~3 s)
        out, _ = holder.proc.communicate(timeout=45)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the holder still runs; it printed:\n{exc.output}") from None
    assert "STEP RETURNED None" in out, out
    assert not holder.agent().events.filter(kind="tool_call").exclude(payload__tool__in=["list_files", "read_file"])
    assert holder.agent().steps == 4  # the model turn was saved before; nothing after it


def test_a_stopping_process_hands_its_running_step_back_within_seconds(demo):
    marker = f"handed-{secrets.token_hex(4)}"  # names the command's processes
    ada = _one_agent_in_front_of_a_long_command(demo, f"sleep 60; echo {marker}")
    returned = []

    def step() -> None:
        try:
            returned.append(factories.run_step(ada.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=step)
    worker.start()
    deadline = time.monotonic() + 60
    while Agent.objects.get(pk=ada.pk).events.filter(kind="model_turn").count() < 4:
        assert time.monotonic() < deadline and worker.is_alive()
        time.sleep(0.1)
    wait_until(lambda: processes_with(marker), "the sandboxed sleep running", timeout=60)
    lease.begin_shutdown()  # what SIGTERM does in the web process and in a worker
    try:
        stopped = time.monotonic()
        worker.join(timeout=30)
        took = time.monotonic() - stopped
    finally:
        lease.shutting_down.clear()
    # within seconds, not the 60 s the command wanted (room for a loaded machine's kill and writes)
    assert not worker.is_alive() and took < 15, f"the step took {took:.1f} s to hand back"
    assert returned == [0.0]  # the agent is scheduled again at once (by whoever runs next)
    ada.refresh_from_db()
    assert ada.status == Agent.Status.RUNNING and ada.lease_expires_at is None
    kinds = list(ada.events.values_list("kind", flat=True))
    assert kinds[-1] == "handed_back"
    assert not ada.events.filter(kind="tool_call", payload__tool="run_command").exists()
    # the next holder finishes the turn the stop cut short: the same command, not a new model call
    assert conversations.unfinished_turn(conversations.load(ada.pk))[1][0].name == "run_command"
