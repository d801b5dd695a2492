"""A launch answers at once: its agents are *preparing* while their worktrees are made in the background, and each
starts as soon as its own is ready; the task page shows the progress; one agent's git failure stops only that
agent; a preparation cut short by a crash resumes; a stop while preparing leaves no worktree behind.

Two real backends hold the preparation: the embedded one (threads of this process, as in `make run`), and the Celery
one on its in-memory broker with no worker yet, which keeps agents preparing until the test runs the queued task
itself, as a worker would.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.utils import timezone

from agents import events, lease, preparation, scheduling, services, worktrees
from agents.models import Agent, Event
from agents.scheduling import sweep
from swarm_web.asgi import application
from tests.api_client import small_task
from tests.factories import task_like
from tests.sockets import TIMEOUT, headers_for
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("fresh_channel_layer")

EMBEDDED = "agents.scheduling.embedded.EmbeddedScheduler"
QUEUED = "agents.scheduling.celery.CeleryScheduler"  # tests' broker is memory://: tasks wait until a test runs them
DEADLINE = 120  # seconds for a small fleet's worktrees and first steps on a loaded 2-core machine
PROGRESS = re.compile(r"Preparing worktrees: <strong>(\d+)/(\d+)</strong>")


@pytest.fixture
def queued(settings):
    """Distributed mode before any worker took the preparation: the agents stay preparing."""
    settings.SWARM_SCHEDULER = QUEUED


def _run_queued_preparation(agent_ids: list[int]) -> None:
    """What a Celery worker does with the queued `agents.prepare` job: its lane thread makes the worktrees."""
    from agents.scheduling.celery import job, wait_for_lanes

    job.run(scheduling.PREPARE_JOB, agent_ids)
    assert wait_for_lanes(DEADLINE)


def test_a_launch_answers_with_agents_preparing_and_each_runs_once_its_worktree_exists(api, alice_client, queued):
    roster = [("Ada", "sim-diligent"), ("Grace", "sim-diligent"), ("Linus", "sim-lazy")]
    task_id = small_task(api, roster)["id"]
    launch = api.post(f"/api/tasks/{task_id}/launch")
    assert launch.status_code == 201
    assert [a["status"] for a in launch.json()["agents"]] == ["preparing"] * 3
    ids = [a["id"] for a in launch.json()["agents"]]
    assert all(a.worktree == "" for a in Agent.objects.filter(pk__in=ids))

    page = alice_client.get(f"/tasks/{task_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('<span class="pill preparing"') == 3  # each card says so, in words
    assert PROGRESS.search(html).groups() == ("0", "3")
    assert api.get(f"/api/agents/{ids[0]}").json()["status"] == "preparing"

    _run_queued_preparation(ids[:1])  # the worker made Ada's worktree: she runs, the others still wait
    ada = Agent.objects.get(pk=ids[0])
    assert ada.status == Agent.Status.RUNNING and (Path(ada.worktree) / "mathutil.py").is_file()
    assert ada.branch == f"swarm/{task_id}/ada"
    assert ada.events.get(seq=1).payload == {"status": "running", "reason": f"started on branch {ada.branch}"}
    assert PROGRESS.search(alice_client.get(f"/tasks/{task_id}/").content.decode()).groups() == ("1", "3")

    _run_queued_preparation(ids[1:])
    assert set(Agent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Agent.Status.RUNNING}
    assert not PROGRESS.search(alice_client.get(f"/tasks/{task_id}/").content.decode())  # nothing left to wait for


def test_a_workers_preparation_job_hands_its_slot_back_before_the_worktrees_are_made(demo, queued):
    """A launch's preparation is minutes of git: the Celery task returns at once and a lane thread of the worker
    makes the worktrees, so the worker's few slots keep running the fleet's steps meanwhile."""
    from agents.scheduling.celery import job, wait_for_lanes

    _, template = demo
    task = task_like(template, [("Ada", "sim-diligent"), ("Bea", "sim-diligent")])
    ids = [a.pk for a in services.launch_task(task)]
    with transaction.atomic():  # the agents' rows held: the lane cannot claim them until this ends
        list(Agent.objects.select_for_update().filter(pk__in=ids))
        started = time.monotonic()
        job.run(scheduling.PREPARE_JOB, ids)
        assert time.monotonic() - started < 5  # the task did not wait for the lane
        assert set(Agent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Agent.Status.PREPARING}
    assert wait_for_lanes(DEADLINE)
    for agent in Agent.objects.filter(pk__in=ids):
        assert agent.status == Agent.Status.RUNNING and (Path(agent.worktree) / "mathutil.py").is_file()


def test_embedded_agents_start_as_their_worktrees_appear_and_the_page_follows_the_progress(demo, alice, embedded):
    _, template = demo
    size = 16
    task = task_like(template, [(f"Agent{i:02d}", "sim-diligent") for i in range(size)])
    headers = headers_for(alice)

    async def scenario() -> tuple[list[Agent], list[tuple[float, str]]]:
        events.main_loop = asyncio.get_running_loop()  # as daphne's: the preparers' broadcasts hop onto it
        # the app without its start-up hook: this process's sweeps are not under test, the scheduler is the fixture's
        comm = WebsocketCommunicator(application.app, f"/ws/tasks/{task.pk}/", headers=headers)
        connected, code = await comm.connect(timeout=TIMEOUT)
        assert connected, code
        await comm.receive_json_from(timeout=TIMEOUT)  # the page's state on connect: not launched yet
        # timed from before the launch: its preparers may send frames while it still returns (the span the frames
        # come in is then longer than the time after it)
        frames, started = [], time.monotonic()
        answered = await database_sync_to_async(services.launch_task)(task)
        while True:
            html = (await comm.receive_json_from(timeout=DEADLINE))["html"]
            if f'id="task-{task.pk}-preparation"' in html:
                frames.append((time.monotonic() - started, html))
                if "hidden" in html.split(">", 1)[0]:
                    break  # every worktree is ready: the progress line goes away
        await comm.disconnect()
        return answered, frames

    answered, frames = asyncio.run(scenario())
    assert Agent.Status.PREPARING in {a.status for a in answered}
    agents = list(Agent.objects.filter(task=task).order_by("id"))
    assert all((Path(a.worktree) / "mathutil.py").is_file() for a in agents)
    assert all(a.status == Agent.Status.RUNNING and a.started_at for a in agents)
    assert agents[0].started_at < agents[-1].started_at  # in launch order: the first one started first

    counts = [int(PROGRESS.search(html).group(1)) for _, html in frames if PROGRESS.search(html)]
    assert counts and counts == sorted(counts) and counts[0] < size  # "worktrees 3/16", growing, then gone
    span = frames[-1][0]
    assert len(frames) <= span / preparation.PROGRESS_SECONDS + 3  # a few frames a second, not one per agent

    wait_until(
        lambda: Event.objects.filter(agent__task=task, kind="model_turn").exists(), "a first model turn", DEADLINE
    )


def test_one_agents_worktree_failure_leaves_the_others_running_and_resume_tries_again(demo, alice_client):
    _, template = demo
    task = task_like(template, [("Ada", "sim-diligent"), ("Bea", "sim-diligent"), ("Cy", "sim-lazy")])
    repo = task.repo.path
    # someone's branch already has Bea's name, at another commit: Swarm must neither move nor reuse it
    other = worktrees.git(repo, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "someone's work").strip()
    worktrees.git(repo, "branch", f"swarm/{task.pk}/bea", other)

    response = alice_client.post(f"/tasks/{task.pk}/launch/")
    assert response.status_code == 302
    ada, bea, cy = Agent.objects.filter(task=task).order_by("id")
    assert ada.status == cy.status == Agent.Status.RUNNING
    assert (Path(ada.worktree) / "mathutil.py").is_file() and (Path(cy.worktree) / "mathutil.py").is_file()
    assert bea.status == Agent.Status.ERROR and bea.worktree == ""
    assert "could not create its worktree" in bea.status_reason and "already exists" in bea.status_reason
    page = alice_client.get(f"/agents/{bea.pk}/").content.decode()
    assert "already exists at another commit" in page and ">Resume</button>" in page
    assert worktrees.git(repo, "rev-parse", f"swarm/{task.pk}/bea").strip() == other  # untouched

    worktrees.git(repo, "branch", "-m", f"swarm/{task.pk}/bea", "kept/bea")  # the person moves it aside
    assert alice_client.post(f"/agents/{bea.pk}/resume/").status_code == 302
    bea.refresh_from_db()
    assert bea.status == Agent.Status.RUNNING and (Path(bea.worktree) / "mathutil.py").is_file()


def test_a_preparation_cut_short_by_a_crash_resumes_at_the_next_start(demo, queued, settings):
    _, template = demo
    task = task_like(template, [("Ada", "sim-diligent"), ("Bea", "sim-diligent"), ("Cy", "sim-diligent")])
    ada, bea, cy = services.launch_task(task)
    repo = task.repo.path
    # the process that was making them was killed: it held Ada's claim, had made Bea's branch but not her worktree,
    # and left half of Cy's checkout (git's own files written, no `.git` pointer yet)
    dead = subprocess.Popen(["true"])
    dead.wait()
    held = timezone.now() + timedelta(seconds=600)
    Agent.objects.filter(pk=ada.pk).update(lease_owner=f"{lease.HOST}:{dead.pid}:gone", lease_expires_at=held)
    worktrees.git(repo, "branch", f"swarm/{task.pk}/bea", bea.base_commit)
    half = worktrees.location(task.pk, "Cy")[1]
    half.mkdir(parents=True)
    (half / "mathutil.py").write_text("half")

    settings.SWARM_SCHEDULER = "agents.scheduling.manual.ManualScheduler"  # the restarted process prepares at once
    sweep.resume_orphans(startup=True)

    for agent in Agent.objects.filter(task=task):
        assert agent.status == Agent.Status.RUNNING, (agent.name, agent.status_reason)
        tree = Path(agent.worktree)
        assert worktrees.head(tree) == agent.base_commit == ada.base_commit
        assert "half" not in (tree / "mathutil.py").read_text()
        assert agent.events.filter(kind="status").count() == 1  # started once, nothing repeated


def test_stopping_a_task_while_it_prepares_leaves_no_worktree_behind(demo, alice_client, queued):
    _, template = demo
    task = task_like(template, [("Ada", "sim-diligent"), ("Bea", "sim-diligent")])
    ids = [a.pk for a in services.launch_task(task)]
    assert alice_client.post(f"/tasks/{task.pk}/stop-all/").status_code == 302
    assert set(Agent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Agent.Status.STOPPED}

    _run_queued_preparation(ids)  # the worker gets to them after the stop
    task_dir = worktrees.location(task.pk, "Ada")[1].parent
    assert not task_dir.exists() or not any(task_dir.iterdir())
    assert "swarm/" not in worktrees.git(task.repo.path, "branch", "--list")
    assert alice_client.post(f"/tasks/{task.pk}/delete/").status_code == 302  # nothing still works on it
    _run_queued_preparation(ids)  # and a late duplicate of the task finds nothing to do
    assert not task_dir.exists() or not any(task_dir.iterdir())
