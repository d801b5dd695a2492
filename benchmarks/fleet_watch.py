"""The fleet benchmark's watchers (raw websockets to daphne, tests/ws_client.py, each logged in as its own viewer) and
the figures made from what they saw, the app's event log and the model server's call log.

A `steady` agent (agents/simulator.py) says in its activity which turn it is at: "Turn k: writing a note." (its model
turn) then "writing notes/turn-k.md" (its tool call). Its changes are so ordered: model turn k is change 2k, its note
2k+1. An overview frame showing change o of an agent's card shows every change up to o, so a change's staleness at a
watcher is the first frame at or past it, less the time its event was written (inside the step's transaction, a few
ms before the commit).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

from tests.ws_client import Closed, Refused, WsClient

CARD_RE = re.compile(r'id="agent-(\d+)-card"')
MODEL_RE = re.compile(r"Turn (\d+): writing a note")
NOTE_RE = re.compile(r"writing notes/turn-(\d+)\.md")


def card_changes(html: str) -> dict[int, int]:
    """{agent id: the latest change its card in this frame shows} for every card in an overview frame."""
    found: dict[int, int] = {}
    starts = list(CARD_RE.finditer(html))
    for i, match in enumerate(starts):
        card = html[match.end() : starts[i + 1].start() if i + 1 < len(starts) else len(html)]
        shown = [2 * int(m) for m in MODEL_RE.findall(card)] + [2 * int(m) + 1 for m in NOTE_RE.findall(card)]
        if shown:
            found[int(match.group(1))] = max(shown)
    return found


@dataclass
class Watcher:
    port: int
    path: str
    cookie: str
    frames: int = 0
    connects: int = 0
    closed: list[int] = field(default_factory=list)  # close codes of sockets that ended
    task: asyncio.Task | None = None

    async def run(self, until: asyncio.Event) -> None:
        while not until.is_set():
            try:
                ws = await WsClient.connect(self.port, self._path(), self.cookie, timeout=30)
            except (Refused, OSError, TimeoutError):
                await asyncio.sleep(0.5)
                continue
            self.connects += 1
            try:
                while not until.is_set():
                    try:
                        message = json.loads(await ws.recv(timeout=1))
                    except TimeoutError:
                        continue
                    self.frames += 1
                    self.seen(time.time(), message)
            except Closed as exc:
                self.closed.append(exc.code)
            finally:
                await ws.close()

    def _path(self) -> str:
        return self.path

    def seen(self, at: float, message: dict) -> None:
        raise NotImplementedError


@dataclass
class OverviewWatcher(Watcher):
    shown: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # agent: [(time, change)], increasing

    def seen(self, at: float, message: dict) -> None:
        html = message.get("html") or " ".join(v for v in message.values() if isinstance(v, str))
        for agent, change in card_changes(html).items():
            steps = self.shown.setdefault(agent, [])
            if not steps or change > steps[-1][1]:
                steps.append((at, change))

    def first_showing(self, agent: int, change: int) -> float | None:
        return next((at for at, shown in self.shown.get(agent, ()) if shown >= change), None)


@dataclass
class AgentWatcher(Watcher):
    agent: int = 0
    received: list[tuple[int, float]] = field(default_factory=list)  # (seq, time) of every logged event sent
    last: int = 0

    def _path(self) -> str:  # a reconnect asks for what it missed, as static/js/live.js does
        return f"{self.path}?after={self.last}"

    def seen(self, at: float, message: dict) -> None:
        seq = message.get("seq")
        if seq is not None:
            self.received.append((seq, at))
            self.last = max(self.last, seq)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Calls:
    """Each agent's model calls as (started, answered) wall-clock seconds, in order."""

    by_agent: dict[int, list[tuple[float, float]]]

    @classmethod
    def from_server(cls, log: list[list], names: dict[int, str]) -> Calls:
        ids = {name: agent for agent, name in names.items()}
        by_agent: dict[int, list[tuple[float, float]]] = {agent: [] for agent in names}
        for name, _turn, arrived, answered in sorted(log, key=lambda row: row[2]):
            if name in ids:  # a call still in flight has no answer yet
                by_agent[ids[name]].append((arrived, answered if answered is not None else float("inf")))
        return cls(by_agent)

    @classmethod
    def from_events(cls, events: list[list], names: dict[int, str], latency: float) -> Calls:
        """Simulated calls leave no server log: a model turn's event is written as its answer arrives."""
        by_agent: dict[int, list[tuple[float, float]]] = {agent: [] for agent in names}
        for agent, _seq, kind, created, _turn in events:
            if kind == "model_turn":
                by_agent.setdefault(agent, []).append((created - latency, created))
        return cls(by_agent)

    def rate(self, start: float, end: float) -> float:
        """Model calls a second over [start, end] by Little's law: the calls in flight on average over the window,
        divided by how long a call takes. Whole calls counted would swing by a fleet a period (the fleet moves in
        step), and an agent starved for a model call counts as the nothing it got."""
        durations = [b - a for calls in self.by_agent.values() for a, b in calls if b != float("inf")]
        if not durations:
            return 0.0
        in_flight = sum(max(0.0, min(b, end) - max(a, start)) for calls in self.by_agent.values() for a, b in calls)
        return in_flight / (end - start) / (sum(durations) / len(durations))

    def started(self, start: float, end: float) -> int:
        return sum(1 for calls in self.by_agent.values() for s, _ in calls if start <= s <= end)

    def waits(self, start: float, end: float, step_delay: float, stopped: float) -> list[float]:
        """Seconds from each answer in the window to the agent's next call, less the step delay; an answer with no
        next call before the run stopped counts the time until then."""
        found = []
        for calls in self.by_agent.values():
            for i, (_, answered) in enumerate(calls):
                if start <= answered <= end:
                    following = calls[i + 1][0] if i + 1 < len(calls) else stopped
                    found.append(following - answered - step_delay)
        return found

    def first_calls(self, since: float) -> tuple[float | None, float | None, int]:
        """Seconds from `since` to the first agent's first call and to the last agent's; agents never called."""
        firsts = [calls[0][0] - since for calls in self.by_agent.values() if calls]
        never = sum(1 for calls in self.by_agent.values() if not calls)
        return (min(firsts) if firsts else None), (max(firsts) if firsts else None), never


def staleness(events: list[list], watchers: list[OverviewWatcher], start: float, end: float, stopped: float):
    """Seconds from each change written in the window to the first frame showing it, per overview watcher."""
    found = []
    for agent, _seq, kind, created, turn in events:
        if turn is None or not start <= created <= end or kind not in {"model_turn", "tool_call"}:
            continue
        change = 2 * turn + (kind == "tool_call")
        for watcher in watchers:
            at = watcher.first_showing(agent, change)
            found.append((at if at is not None else stopped) - created)
    return found


def delivery(events: list[list], watchers: list[AgentWatcher], start: float, end: float) -> dict:
    """Latency of the agent sockets' events written in the window; events lost and sent twice over the whole run."""
    logged: dict[int, dict[int, float]] = {}
    for agent, seq, _kind, created, _turn in events:
        logged.setdefault(agent, {})[seq] = created
    latencies, lost, duplicated = [], 0, 0
    for watcher in watchers:
        log = logged.get(watcher.agent, {})
        seqs = [seq for seq, _ in watcher.received]
        lost += len(set(log) - set(seqs))
        duplicated += len(seqs) - len(set(seqs))
        for seq, at in watcher.received:
            if seq in log and start <= log[seq] <= end:
                latencies.append(at - log[seq])
    return {"latencies": latencies, "lost": lost, "duplicated": duplicated}


async def caught_up(watchers: list[AgentWatcher], last_seqs: dict[int, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(w.last < last_seqs.get(w.agent, 0) for w in watchers):
        await asyncio.sleep(0.2)
