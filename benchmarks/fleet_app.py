"""The fleet benchmark's steps that run inside the app's environment (its database), as `manage.py` commands would:

    python -m benchmarks.fleet_app prepare WATCHERS    # the admin's API token and cookie; WATCHERS viewers' cookies
    python -m benchmarks.fleet_app collect TASK FILE   # the task's agents and event log, as JSON, into FILE

Each prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prepare(watchers: int) -> dict:
    from django.contrib.auth import get_user_model

    from agents.models import ApiToken, Membership
    from benchmarks.live_tools import session_cookie

    admin = get_user_model().objects.get(username="admin")
    team = Membership.objects.get(user=admin).team
    cookies = []
    for i in range(watchers):
        user, _ = get_user_model().objects.get_or_create(username=f"watcher{i + 1}")
        Membership.objects.get_or_create(team=team, user=user, defaults={"role": Membership.Role.VIEWER})
        cookies.append(session_cookie(user))
    return {"token": ApiToken.issue(admin), "admin_cookie": session_cookie(admin), "cookies": cookies}


def collect(task_id: int, path: str) -> dict:
    """Agents {id: name}, and every event as [agent id, seq, kind, created (epoch seconds), turn or null]: the
    turn a `steady` agent's model turn or note is at (agents/simulator.py)."""
    from agents.models import Agent, Event

    agents = dict(Agent.objects.filter(task_id=task_id).values_list("pk", "name"))
    rows = []
    for agent_id, seq, kind, created, payload in (
        Event.objects.filter(agent__task_id=task_id)
        .order_by("agent_id", "seq")
        .values_list("agent_id", "seq", "kind", "created_at", "payload")
        .iterator(chunk_size=5000)
    ):
        rows.append([agent_id, seq, kind, created.timestamp(), _turn(kind, payload)])
    Path(path).write_text(json.dumps({"agents": agents, "events": rows}))
    return {"agents": len(agents), "events": len(rows)}


def _turn(kind: str, payload: dict) -> int | None:
    text = ""
    if kind == "model_turn":
        text = payload.get("text") or ""
        if not text.startswith("Turn "):
            return None
    elif kind == "tool_call":
        args = payload.get("args")
        text = args.get("path", "") if isinstance(args, dict) else ""
        if not text.startswith("notes/turn-"):
            return None
    digits = "".join(ch for ch in text.split(":")[0] if ch.isdigit())
    return int(digits) if digits else None


def main(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")
    django.setup()
    command, *rest = argv
    if command == "prepare":
        result = prepare(int(rest[0]))
    elif command == "collect":
        result = collect(int(rest[0]), rest[1])
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
