"""`swarm follow` and `swarm run --wait`, live: the server's own websockets (those the pages use), opened with the API
token, over which the server speaks the API's JSON (agents/consumers.py).

The API stays the source of truth: the outcome is read with a GET whenever a frame may have changed it (an agent's
status), which the first frame after every (re)connect does, and at least every QUIET seconds whatever the frames (a
verdict may be decided with no status changing); an agent's follow then prints the events of its log the socket had
not brought yet, so it ends with the same lines whichever way it learnt the outcome. A socket that
drops reconnects with backoff, and an agent's replays what it missed (`?after=`), so no event is lost or shown twice.
When the server will not open the socket at all (an older server, or a proxy that does not pass websockets), when it
cannot be reached after TRIES connects (a firewall that lets only the proxy out), or when HTTP(S)_PROXY sends the API's
requests through a proxy (NO_PROXY not covering the host: the socket would go around it), the command polls the API
instead, every `--interval` seconds, and says so on stderr once.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request

from swarm_cli import outcome, ws
from swarm_cli.client import ApiError, Client

QUIET = 30.0  # seconds after which the API is asked anyway (a verdict may change with no agent's status)
BACKOFF = (0.5, 1, 2, 4, 8, 15)  # seconds before each reconnect in a row; the last repeats
GONE = {4403, 4404}  # the server no longer shows it to this token (revoked, removed from the team, deleted)
TRIES = 3  # connects in a row that fail to reach a socket never opened before: then the command polls


class Unavailable(Exception):
    """The server would not open the live socket: the command polls instead."""


def socket_url(client: Client, path: str) -> str:
    scheme, _, rest = client.url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"


def summary(payload: dict) -> str:
    """An event's text on one line, cut to 160 characters."""
    for key in ("text", "summary", "message", "reason", "status", "tool", "command"):
        if isinstance(payload.get(key), str) and payload[key]:
            return " ".join(payload[key].split())[:160]
    return " ".join(json.dumps(payload, ensure_ascii=False).split())[:160]


class AgentFollower:
    """An agent's events as they come, then its state, until its work is decided: 0 accepted or its submission
    approved, 1 a submission rejected while it follows (the agent then goes back to work with the reviewer's word),
    2 stopped or in error. Awaiting review or paused (a question, a budget) it waits for a person, and so does the
    follow, as `follow task` does, until `--timeout` (3)."""

    every_quiet = True  # a verdict may be decided with no event of the agent's (an approval before the merge)

    def __init__(self, client: Client, pk: int, out=sys.stdout):
        self.client, self.pk, self.out = client, pk, out
        self.agent = client.get(f"agents/{pk}")  # it exists and the token may see it; else the API's refusal
        self.name, self.after, self.shown, self.status = f"agent {pk}", 0, {}, None
        # a rejection from before the follow is not its end (the agent went back to work after it)
        self.rejected = {v["id"] for v in self.verdicts() if v["status"] == "rejected"}

    def path(self) -> str:
        return f"/ws/agents/{self.pk}/?after={self.after}"

    def verdicts(self) -> list[dict]:
        task = self.agent["task"]["id"]
        return [
            v
            for v in outcome.every(self.client, "verdicts", "verdicts", status="decided", task=task)
            if v["agent"]["id"] == self.pk
        ]

    def frame(self, data: dict) -> bool:
        """Print the frame; True when the agent's status changed (a verdict may have come or been decided)."""
        if data.get("event") and data["seq"] > self.after:
            event, self.after = data["event"], data["seq"]
            print(f"[{event['seq']}] {self.agent['name']} {event['kind']}: {summary(event['payload'])}", file=self.out)
            self.out.flush()
        if data.get("agent"):
            outcome.show([data["agent"]], self.shown, self.out)
            changed, self.status = data["agent"]["status"] != self.status, data["agent"]["status"]
            return changed
        return False

    def outcome(self, agent: dict | None = None) -> int | None:
        agent = agent or self.client.get(f"agents/{self.pk}")
        decided = {v["status"] for v in self.verdicts() if v["id"] not in self.rejected}
        if agent["status"] == "accepted" or "approved" in decided:
            code = outcome.APPROVED
        elif "rejected" in decided:
            code = outcome.REJECTED
        elif agent["status"] in ("error", "stopped"):
            code = outcome.FAILED
        else:
            return None
        self.catch_up()  # the events up to its end, those the socket had not brought yet
        status = agent["status"].replace("_", " ")
        print(f"agent {self.pk} {agent['name']}: {outcome.NAMES[code]} ({status})", file=self.out, flush=True)
        return code

    def catch_up(self) -> None:
        more = True
        while more:
            page = self.client.get(f"agents/{self.pk}/events", after=self.after)
            for event in page["events"]:
                self.frame({"seq": event["seq"], "event": event})
            more = page["more"] and page["events"]

    def poll(self, timeout: float, interval: float) -> int:
        """The same, from the API's event log and state every `interval` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.catch_up()
            agent = self.client.get(f"agents/{self.pk}")
            self.frame({"agent": agent})
            code = self.outcome(agent)
            if code is not None:
                return code
            if time.monotonic() >= deadline:
                return timed_out(self.name, timeout, self.out)
            time.sleep(interval)


class TaskFollower:
    """Each agent's progress line as it changes, until the task's outcome (outcome.decide's exit code)."""

    every_quiet = True  # a verdict may be decided, or fail to merge, with no agent's status changing

    def __init__(self, client: Client, pk: int, out=sys.stdout):
        self.client, self.pk, self.out = client, pk, out
        client.get(f"tasks/{pk}")  # it exists and the token may see it; else the API's refusal
        self.name, self.shown, self.status = f"task {pk}", {}, {}

    def path(self) -> str:
        return f"/ws/tasks/{self.pk}/"

    def frame(self, data: dict) -> bool:
        """Print the agents that changed; True when an agent's status did (a verdict may have come or been decided)."""
        agents = data.get("agents") or []
        outcome.show(agents, self.shown, self.out)
        changed = [a for a in agents if self.status.get(a["id"]) != a["status"]]
        self.status.update((a["id"], a["status"]) for a in agents)
        return bool(changed)

    def outcome(self) -> int | None:
        return outcome.report(self.client, self.pk, self.out)

    def poll(self, timeout: float, interval: float) -> int:
        return outcome.wait(self.client, self.pk, timeout, interval, self.out)


def timed_out(name: str, timeout: float, out) -> int:
    print(f"{name}: timed out after {timeout:g} s", file=out, flush=True)
    return outcome.TIMED_OUT


def proxied(url: str) -> str:
    """The name of the proxy variable urllib sends the API's requests through ("" when none, or NO_PROXY covers the
    host). Never its value, which may hold a password."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in urllib.request.getproxies() or urllib.request.proxy_bypass(parts.hostname or ""):
        return ""
    return f"{parts.scheme.upper()}_PROXY"


def settled(follower) -> int | None:
    """The outcome, if the API says there is one; None too while the API cannot be reached either (a restart)."""
    try:
        return follower.outcome()
    except ApiError as exc:
        if exc.status:
            raise
        return None


def follow(follower, timeout: float, interval: float) -> int:
    """Live over the socket; by polling when the server will not open it, when it cannot be reached, or when the API's
    requests go through a proxy (which the socket, connecting directly, would not)."""
    started = time.monotonic()
    try:
        if proxy := proxied(follower.client.url):
            raise Unavailable(f"{proxy} is set and the live socket does not go through proxies")
        return stream(follower, timeout)
    except Unavailable as exc:
        print(f"swarm: {exc}; polling the API every {interval:g} s instead", file=sys.stderr, flush=True)
        return follower.poll(max(0.0, timeout - (time.monotonic() - started)), interval)


def stream(follower, timeout: float) -> int:
    """Read the follower's socket until the API says it has come out, reconnecting after a drop; the exit code."""
    deadline = time.monotonic() + timeout
    sock, opened, drops = None, False, 0  # drops: in a row, without a frame between them
    asked = time.monotonic()  # when the API was last asked for the outcome
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return timed_out(follower.name, timeout, follower.out)
            if sock is None and drops:
                time.sleep(min(BACKOFF[min(drops, len(BACKOFF)) - 1], left))
                if time.monotonic() >= deadline:
                    continue
            if sock is None:
                try:
                    url = socket_url(follower.client, follower.path())
                    sock, opened = ws.Socket.connect(url, follower.client.token, timeout=min(15.0, left)), True
                except ws.Refused as exc:
                    if not opened:  # the API answered this token a moment ago: the server has no such socket
                        raise Unavailable(f"the server would not open a live socket (HTTP {exc.status})") from None
                    drops += 1
                    code = follower.outcome()  # a token revoked meanwhile, a task deleted: the API's refusal
                    if code is not None:
                        return code
                    continue
                except (OSError, ws.Closed) as exc:  # not reachable now: a server restarting, a network down
                    drops += 1
                    if not opened and drops >= TRIES:  # nor ever: a firewall, a proxy the API's requests go through
                        reason = (
                            exc.strerror or str(exc)
                            if isinstance(exc, OSError)
                            else "the connection ended in the handshake"
                        )
                        raise Unavailable(f"could not reach the live socket ({reason})") from None
                    code = settled(follower)  # it may have come out meanwhile: the API says so
                    if code is not None:
                        return code
                    continue
            try:
                due = asked + QUIET - time.monotonic() if follower.every_quiet else QUIET
                text = sock.recv(max(0.0, min(due, left)))
            except ws.Closed as exc:
                sock, drops = None, drops + 1
                if exc.code in GONE:
                    code = follower.outcome()  # the API's own refusal, if it refuses too
                    if code is not None:
                        return code
                    raise ApiError(f"the server closed the live socket of {follower.name} ({exc.code})") from None
                continue
            if text is not None:
                drops = 0
            maybe_done = text is not None and follower.frame(json.loads(text))
            if maybe_done or (follower.every_quiet and time.monotonic() >= asked + QUIET):
                code, asked = follower.outcome(), time.monotonic()
                if code is not None:
                    return code
    finally:
        if sock is not None:
            sock.close()
