"""The `make soak` phases that fault Celery workers (benchmarks/soak.py runs them and prints the table):

- kills: demo swarms on two prefork workers; pool children and whole workers SIGKILLed at random (seeded), each
  whole worker restarted. Every agent must submit; its event seqs must be 1..N; no tool call runs twice.
- messages: messages in all three modes sent to running agents while the worker is stopped with SIGTERM and
  restarted; every message's receipts must go queued -> delivered -> answered, in that order, in the event log.

Both run in the soak's process, whose environment (database, Redis, short recovery windows) the workers inherit.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

from tests.distributed import EXPECTED
from tests.live_server import ROOT, kill_group, logger, worker_argv

SCALE = max(1, int(os.environ.get("SWARM_SOAK_SCALE", "1")))
SEED = int(os.environ.get("SWARM_SOAK_SEED", "7"))
_log = logger("soak")


class Workers:
    """Celery worker processes run as `make worker` runs them, each in its own session."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.procs: list[subprocess.Popen] = []
        self.count = 0

    def start(self) -> subprocess.Popen:
        self.count += 1
        path = self.data_dir / f"worker{self.count}.log"
        log = open(path, "w")  # noqa: SIM115
        proc = subprocess.Popen(
            worker_argv(f"soak{self.count}-{uuid.uuid4().hex[:6]}", pool=None),  # the prefork pool, as in production
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        proc.log_path = path
        self.procs.append(proc)
        return proc

    def ready(self) -> list[subprocess.Popen]:
        """Workers up and consuming (killing a pool child while billiard starts the pool kills the worker)."""
        return [p for p in self.alive() if "ready." in p.log_path.read_text(errors="replace")]

    def keep(self, count: int) -> int:
        """Replace workers that died on their own; returns how many were started."""
        started = 0
        while len(self.alive()) < count:
            self.start()
            started += 1
        return started

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def kill_child(self, rng: random.Random) -> bool:
        import psutil

        children = [c for p in self.ready() for c in psutil.Process(p.pid).children()]
        if not children:
            return False
        rng.choice(children).kill()
        return True

    def sigterm(self, proc: subprocess.Popen) -> float:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(proc)
        return time.monotonic() - started

    def stop_all(self) -> None:
        for proc in self.alive():
            kill_group(proc)


def _launch(copies: int, roster=None) -> list[int]:
    from agents import demo, services

    _, template = demo.seed("Soak team")
    ids = []
    for i in range(copies):
        task = demo.task_like(template, roster or [(n, p) for n, p in demo.DEMO_AGENTS], title=f"soak {uuid.uuid4()}")
        ids += [a.pk for a in services.launch_task(task)]
        _log(f"launched task {i + 1}/{copies}")
    return ids


def _wait_settled(ids: list[int], timeout: float, tick=None) -> bool:
    """Until no agent runs and none holds a lease (verifications done), calling tick() meanwhile."""
    from agents.models import Agent

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = Agent.objects.filter(pk__in=ids, status=Agent.Status.RUNNING).count()
        leased = Agent.objects.filter(pk__in=ids, lease_expires_at__isnull=False).count()
        if not busy and not leased:
            return True
        if tick:
            tick()
        time.sleep(0.5)
    return False


def _count_events(ids: list[int], tally) -> None:
    """Lost: seq gaps and missing tool calls; duplicated: a tool call or model turn done twice."""
    from agents.models import Agent

    for agent in Agent.objects.filter(pk__in=ids):
        seqs = list(agent.events.order_by("seq").values_list("seq", flat=True))
        tally.lost += sum(b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False)) + (seqs[0] - 1 if seqs else 0)
        tally.duplicated += len(seqs) - len(set(seqs))
        if agent.status == Agent.Status.AWAITING_REVIEW:
            tally.runs += 1
        else:
            tally.notes.append(f"{agent.name}#{agent.pk} ended {agent.status}: {agent.status_reason}")
        expected_tools, _ = EXPECTED.get(agent.name, (None, 0))
        if expected_tools is None:
            continue
        tools = [p["tool"] for p in agent.events.filter(kind="tool_call").values_list("payload", flat=True)]
        extra = len(tools) - len(expected_tools)
        if tools != expected_tools:
            if extra > 0:
                tally.duplicated += extra
            else:
                tally.lost += max(0, -extra) or 1
            tally.notes.append(f"{agent.name}#{agent.pk} tool calls {tools}")


def phase_kills(data_dir: Path, tally):
    """`make soak` phase "kills"."""
    rng = random.Random(SEED)
    workers = Workers(data_dir)
    workers.start()
    workers.start()
    ids = _launch(2 * SCALE)
    kills_left = 6 * SCALE
    whole_left = 2 * SCALE
    next_kill = time.monotonic() + rng.uniform(1, 4)

    def tick() -> None:
        nonlocal kills_left, whole_left, next_kill
        if workers.keep(2):
            tally.notes.append("a worker died on its own and was replaced")
        if time.monotonic() < next_kill or not (kills_left or whole_left):
            return
        next_kill = time.monotonic() + rng.uniform(1, 4)
        if whole_left and (not kills_left or rng.random() < 0.3) and workers.ready():
            victim = rng.choice(workers.ready())
            kill_group(victim)
            workers.start()
            whole_left -= 1
            tally.faults += 1
            _log("SIGKILLed a whole worker and started another")
        elif kills_left and workers.kill_child(rng):
            kills_left -= 1
            tally.faults += 1
            _log("SIGKILLed a pool child")

    settled = _wait_settled(ids, 240 * SCALE, tick)
    workers.stop_all()
    if not settled:
        tally.notes.append("the swarm did not settle in time")
    _count_events(ids, tally)
    return tally


def phase_messages(data_dir: Path, tally):
    """`make soak` phase "messages": messages to running agents while the worker is stopped and restarted; receipts
    checked in the event log."""
    from agents import services
    from agents.models import Agent, Event, Message

    rng = random.Random(SEED + 1)
    # slower steps than the other phases: the agents must still be at work when half the messages are in, even when
    # this process sends them slowly (a busy machine), or the SIGTERM would land after they finished
    os.environ["SWARM_STEP_DELAY"] = "1.0"  # read by the workers this phase starts
    workers = Workers(data_dir)
    first = workers.start()
    diligent = [("Ada", "sim-diligent"), ("Grace", "sim-diligent"), ("Margaret", "sim-diligent")]
    ids = _launch(2 * SCALE, diligent)
    sent = 0
    target = 30 * SCALE
    restarted = False
    deadline = time.monotonic() + 120 * SCALE
    while sent < target and time.monotonic() < deadline:
        running = list(Agent.objects.filter(pk__in=ids, status=Agent.Status.RUNNING))
        if not running:
            if Agent.objects.filter(pk__in=ids, status=Agent.Status.PREPARING).exists():
                time.sleep(0.1)  # a launch answers before the worktrees exist: they start as theirs are made
                continue
            break
        agent = rng.choice(running)
        mode = rng.choice(["queue", "queue", "steer", "interrupt"])
        try:
            services.inject_message(agent, f"soak message {sent} ({mode})", mode=mode, client_msg_id=uuid.uuid4().hex)
            sent += 1
        except services.ServiceError:
            pass
        # at half the messages, or as soon as a first agent is done (the others are still at work)
        done = Agent.objects.filter(pk__in=ids).exclude(status__in=[Agent.Status.PREPARING, Agent.Status.RUNNING])
        if not restarted and (sent >= target // 2 or done.exists()):
            took = workers.sigterm(first)
            tally.faults += 1
            restarted = True
            _log(f"worker stopped with SIGTERM in {took:.1f} s; starting another")
            if took > 10:
                tally.notes.append(f"the worker took {took:.1f} s to stop after SIGTERM")
            workers.start()
        time.sleep(rng.uniform(0.05, 0.6))
    _wait_settled(ids, 180 * SCALE)
    workers.stop_all()

    for message in Message.objects.filter(agent_id__in=ids):
        kinds = {}
        for seq, kind in Event.objects.filter(agent_id=message.agent_id, payload__message_id=message.pk).values_list(
            "seq", "kind"
        ):
            kinds.setdefault(kind, []).append(seq)
        queued, delivered, answered = (kinds.get(k, []) for k in ("message", "message_delivered", "message_answered"))
        tally.inputs += 1
        if len(queued) > 1 or len(delivered) > 1 or len(answered) > 1:
            tally.duplicated += 1
            tally.notes.append(f"message {message.pk}: receipts {kinds}")
        order = [s[0] for s in (queued, delivered, answered) if s]
        if (answered and not delivered) or order != sorted(order) or not queued:
            tally.out_of_order += 1
            tally.notes.append(f"message {message.pk} ({message.mode}): receipts {kinds}, state {message.state}")
        state = {0: "queued", 1: "delivered", 2: "answered"}[len([s for s in (delivered, answered) if s])]
        if state != message.state:
            tally.out_of_order += 1
            tally.notes.append(f"message {message.pk}: state {message.state} but receipts {kinds}")
        if message.state == Message.State.ANSWERED:
            tally.runs += 1
    _count_events(
        ids, SimpleNamespace(lost=0, duplicated=0, runs=0, notes=[])
    )  # (seqs are checked by the kills phase; here only receipts count)
    return tally
