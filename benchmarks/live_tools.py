"""Shared by the websocket phases of `make soak` and their short tests: the app under daphne on real Redis, and a
command line that runs inside the app's environment (its database, its channel layer), as a worker would.

    python -m benchmarks.live_tools prepare NAME...       # members of the demo team (+ a stranger), their session
                                                          # cookies and API tokens, and an idle agent to watch
    python -m benchmarks.live_tools emit AGENT COUNT RATE [--silent FROM:LENGTH]
    python -m benchmarks.live_tools remove NAME           # take a member out of the demo team (their sockets close)
    python -m benchmarks.live_tools state AGENT...        # their status, lease and messages' states

Each prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import BIN, LiveApp, free_port, kill_group  # noqa: E402

DEMO_TEAM = "Demo team"


def start_app(data_dir: Path, redis_url: str, database_url: str = "", **env: str) -> LiveApp:
    """daphne with the real settings on Redis (and PostgreSQL when given); no steps run (the scheduler is manual)."""
    extra = {"REDIS_URL": redis_url, "SWARM_SCHEDULER": "agents.scheduling.manual.ManualScheduler", **env}
    if database_url:
        extra["DATABASE_URL"] = database_url
    live = LiveApp("embedded", data_dir, extra_env=extra)
    try:
        # as LiveApp.start, but on a database an earlier phase may have seeded (no admin password printed then)
        data_dir.mkdir(parents=True, exist_ok=True)
        live.manage("migrate", "--noinput")
        live.seed_output = live.manage("seed_demo")
        live.port = free_port()
        spawn_daphne(live, "daphne", live.port)
        return live
    except BaseException:
        live.stop()
        raise


def spawn_daphne(live: LiveApp, name: str, port: int | None = None) -> int:
    """Another daphne process of the same app (same database, same Redis); returns its port."""
    port = port or free_port()
    live._spawn(name, [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "swarm_web.asgi:application"])
    live._wait_http(f"http://127.0.0.1:{port}/accounts/login/")
    return port


def restart_daphne(live: LiveApp) -> float:
    """SIGKILL the app's daphne (a crash: no socket is closed cleanly) and start another on the same port; returns the
    seconds until it answers. Each keeps its own log (daphne.log, daphne-2.log, ...)."""
    started = time.monotonic()
    for name, proc, _ in live.procs:
        if name.startswith("daphne") and proc.poll() is None:
            kill_group(proc)
    live.procs = [p for p in live.procs if p[1].poll() is None]
    live.restarts = getattr(live, "restarts", 1) + 1
    spawn_daphne(live, f"daphne-{live.restarts}", live.port)
    return time.monotonic() - started


def tool(live: LiveApp, *args: str, timeout: float = 300) -> dict:
    out = live.python("-m", "benchmarks.live_tools", *args, timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def spawn_tool(live: LiveApp, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "python"), "-m", "benchmarks.live_tools", *args],
        cwd=ROOT,
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---------------------------------------------------------------- inside the app's environment


def session_cookie(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def prepare(names: list[str]) -> dict:
    from django.contrib.auth import get_user_model

    from agents import demo
    from agents.models import Agent, ApiToken, Membership, ModelProfile

    team, template = demo.seed(DEMO_TEAM)
    stranger_team, _ = demo.seed("Stranger team")
    users = {}
    for name in [*names, "stranger"]:
        user, _ = get_user_model().objects.get_or_create(username=name)
        Membership.objects.get_or_create(
            team=stranger_team if name == "stranger" else team, user=user, defaults={"role": "operator"}
        )
        users[name] = {"id": user.pk, "cookie": session_cookie(user), "token": ApiToken.issue(user)}
    task = demo.task_like(template, [("Emitter", "sim-diligent")], title=f"live {time.time_ns()}")
    agent = Agent.objects.create(
        task=task,
        name="Emitter",
        profile=ModelProfile.objects.get(team=team, name="sim-diligent"),
        status=Agent.Status.PAUSED,  # no step is ever scheduled for it: only the events written here
        activity="emitting",
    )
    return {"users": users, "agent": agent.pk, "task": task.pk}


def emit(agent_id: int, count: int, rate: float, silent: tuple[int, int] | None) -> dict:
    """`count` events at about `rate` a second through the service (broadcast after commit, one message each), except
    the `silent` range: written to the log with no broadcast, as if the channel layer had dropped them."""
    from agents import live_send, services
    from agents.models import Agent, Event

    started = time.monotonic()
    written = 0
    while written < count:
        if silent and written + 1 == silent[0]:
            start = Agent.objects.get(pk=agent_id).next_seq
            n = min(silent[1], count - written)
            Event.objects.bulk_create(
                Event(agent_id=agent_id, seq=start + i, kind="model_turn", payload={"text": f"unbroadcast {start + i}"})
                for i in range(n)
            )
            Agent.objects.filter(pk=agent_id).update(next_seq=start + n)
            written += n
            continue
        # a step's worth of events per transaction (one broadcast), so ~200 a second fit on a small
        # machine; never across the start of the silent range
        size = max(1, min(round(rate / 20), count - written))
        if silent and written < silent[0] - 1:
            size = min(size, silent[0] - 1 - written)
        services.append_events(agent_id, [("model_turn", {"text": f"event {written + i + 1}"}) for i in range(size)])
        written += size
        print(f"emitted {written}", flush=True)
        ahead = started + written / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    live_send.wait_sent(timeout=60)  # broadcasts go out through one long-lived loop of this process
    seconds = time.monotonic() - started
    return {"events": written, "seconds": round(seconds, 2), "rate": round(written / seconds, 1)}


def remove(name: str) -> dict:
    from django.contrib.auth import get_user_model

    from agents import teams
    from agents.models import Membership

    user = get_user_model().objects.get(username=name)
    membership = Membership.objects.get(user=user, team__name=DEMO_TEAM)
    admin = Membership.objects.filter(team=membership.team, role="admin").exclude(pk=membership.pk).first()
    teams.remove_member(admin.user, membership.team_id, membership.pk)
    return {"removed": name}


def state(agent_ids: list[int]) -> dict:
    from agents.models import Agent, Message

    agents = {
        a.pk: {"status": a.status, "leased": a.lease_expires_at is not None}
        for a in Agent.objects.filter(pk__in=agent_ids)
    }
    messages = dict(Message.objects.filter(agent_id__in=agent_ids).values_list("pk", "state"))
    return {"agents": agents, "messages": messages}


def main(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")
    django.setup()
    command, *rest = argv
    if command == "prepare":
        result = prepare(rest)
    elif command == "emit":
        silent = None
        if "--silent" in rest:
            at = rest.index("--silent")
            first, length = rest[at + 1].split(":")
            silent = (int(first), int(length))
            rest = rest[:at] + rest[at + 2 :]
        result = emit(int(rest[0]), int(rest[1]), float(rest[2]), silent)
    elif command == "remove":
        result = remove(rest[0])
    elif command == "state":
        result = state([int(a) for a in rest])
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
