"""The commands of `swarm`; `swarm --help` lists them. Each is one or a few calls of the JSON API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swarm_cli import live, outcome, skills
from swarm_cli.client import ApiError, Client

MAX_FILE = 4 << 20
TASK_CODES = """exit codes, of a task (run --wait, follow task): 0 a verdict approved, 1 every agent's latest verdict
rejected, 2 every agent ended without approved work (or the server refused), 3 timed out (--timeout; a verdict
waiting for a person too), 64 a usage error
"""
AGENT_CODES = """exit codes, of an agent (follow agent): 0 accepted or its submission approved, 1 a submission rejected
while it follows (the agent goes back to work), 2 stopped or in error (or the server refused), 3 timed out; awaiting
review or paused (a question, a budget) it waits for a person, and so does the follow
"""


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read(MAX_FILE)
    where = Path(path)
    if not where.is_file():
        raise ApiError(f"{path}: no such file")
    if where.stat().st_size > MAX_FILE:
        raise ApiError(f"{path}: larger than {MAX_FILE:,} bytes")
    return where.read_text(encoding="utf-8")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


def _show(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def task_create(client: Client, args) -> int:
    task = client.post("taskfiles", {"text": _read(args.file), **({"team": args.team} if args.team else {})})
    print(f"task {task['id']} created: {task['title']}")
    return 0


def task_export(client: Client, args) -> int:
    answer = client.get(f"tasks/{args.id}/taskfile", format=args.format)
    if args.output:
        Path(args.output).write_text(answer["text"], encoding="utf-8")
    else:
        sys.stdout.write(answer["text"])
    return 0


def launch(client: Client, args) -> int:
    answer = client.post(f"tasks/{args.task}/launch")
    for agent in answer["agents"]:
        print(f"agent {agent['id']} {agent['name']} ({agent['model']}): {agent['status']}")
    return 0


def run(client: Client, args) -> int:
    """Create a task from a file, launch it and, with --wait, follow it to its outcome (the exit code)."""
    task = client.post("taskfiles", {"text": _read(args.file), **({"team": args.team} if args.team else {})})
    print(f"task {task['id']} created: {task['title']}", flush=True)
    launched = client.post(f"tasks/{task['id']}/launch")
    print(f"launched {len(launched['agents'])} agents", flush=True)
    if not args.wait:
        return 0
    return live.follow(live.TaskFollower(client, task["id"]), args.timeout, args.interval)


def follow(client: Client, args) -> int:
    follower = (live.TaskFollower if args.what == "task" else live.AgentFollower)(client, args.id)
    return live.follow(follower, args.timeout, args.interval)


def message(client: Client, args) -> int:
    sent = client.post(f"agents/{args.agent}/messages", {"text": args.text, "mode": args.mode, "then": args.then})
    print(f"message {sent['id']}: {sent['delivery']['note']}")
    return 0


def verdicts_list(client: Client, args) -> int:
    query = {"status": args.status, "task": args.task, "per_page": args.per_page}
    if args.all:
        found = outcome.every(client, "verdicts", "verdicts", **{**query, "per_page": args.per_page or 200})
        page = {"verdicts": found, "total": len(found), "page": 1, "pages": 1, "per_page": len(found)}
    else:
        page = client.get("verdicts", page=args.page, **query)
    if args.json:
        _show(page)
        return 0
    for v in page["verdicts"]:
        passed = "verified" if v["verification_passed"] else "not verified"
        print(
            f"{v['id']:>6}  {v['status']:<9} {v['recommendation']:<8} {passed:<13} {v['agent']['name']} · {v['task']['title']}"
        )
    print(f"{page['total']} verdicts" + ("" if args.all else f" (page {page['page']} of {page['pages']})"))
    return 0


def verdict_decide(client: Client, args) -> int:
    verdict = client.post(f"verdicts/{args.id}/{args.decision}", {"comment": args.comment} if args.comment else {})
    print(f"verdict {verdict['id']}: {verdict['status']}")
    return 0


def swebench_import(client: Client, args) -> int:
    defaults = json.loads(_read(args.defaults)) if args.defaults else {}
    if args.roster:
        defaults["roster"] = args.roster
    if args.judge:
        defaults["judges"] = args.judge
    body = {"text": _read(args.file), "defaults": defaults}
    if args.repository:
        body["repository"] = args.repository
    for task in client.post("swebench", body)["tasks"]:
        print(f"task {task['id']} created: {task['title']}")
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, but a wrong command line exits 64 (EX_USAGE), not 2, which a pipeline reads as "failed"."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(outcome.USAGE, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="swarm",
        description="Swarm from the terminal, over the JSON API (SWARM_URL, SWARM_TOKEN).",
        epilog=outcome.CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True)
    task = sub.add_parser("task", help="create a task from a task file, or export one").add_subparsers(
        dest="action", required=True
    )
    create = task.add_parser("create", help="create a task from a YAML or JSON task file (- for stdin)")
    create.add_argument("file")
    create.add_argument("--team")
    create.set_defaults(handler=task_create)
    export = task.add_parser("export", help="print a task as a task file")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=["yaml", "json"], default="yaml")
    export.add_argument("-o", "--output", help="write to this file instead")
    export.set_defaults(handler=task_export)
    go = sub.add_parser("launch", help="launch a task's agents")
    go.add_argument("task", type=int)
    go.set_defaults(handler=launch)
    raw = {"formatter_class": argparse.RawDescriptionHelpFormatter}
    whole = sub.add_parser(
        "run",
        help="create a task from a file and launch it; --wait follows it to its outcome",
        **raw,
        epilog=TASK_CODES,
    )
    whole.add_argument("file")
    whole.add_argument("--team")
    whole.add_argument("--wait", action="store_true")
    follow_ = sub.add_parser(
        "follow",
        help="follow an agent's events or a task's progress live",
        **raw,
        epilog=TASK_CODES + "\n" + AGENT_CODES,
    )
    follow_.add_argument("what", choices=["agent", "task"])
    follow_.add_argument("id", type=int)
    for p in (whole, follow_):
        p.add_argument("--timeout", type=float, default=3600, help="seconds (default 3600); then exit 3")
        p.add_argument(
            "--interval", type=float, default=1.0, help="seconds between polls, if the server's live socket is refused"
        )
    whole.set_defaults(handler=run)
    follow_.set_defaults(handler=follow)
    say = sub.add_parser("message", help="send an agent a message")
    say.add_argument("agent", type=int)
    say.add_argument("text")
    say.add_argument("--mode", choices=["queue", "steer", "interrupt"], default="queue")
    say.add_argument(
        "--then",
        choices=["queue", "resume", "withdraw"],
        default="queue",
        help="queue: just send (default); resume: resume a paused or stopped agent with it (or answer its question); "
        "withdraw: withdraw its submission awaiting review and continue with it",
    )
    say.set_defaults(handler=message)
    listing = sub.add_parser("verdicts", help="list verdicts").add_subparsers(dest="action", required=True)
    ls = listing.add_parser("list", help="the pending queue by default")
    ls.add_argument("--status", default="pending", help="pending, approved, rejected, superseded, decided or all")
    ls.add_argument("--task", type=int)
    ls.add_argument("--page", type=_positive, default=1, help="which page (default 1)")
    ls.add_argument("--per-page", type=_positive, help="verdicts a page (the server's default, 50, if left out)")
    ls.add_argument("--all", action="store_true", help="every page, one after the other")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=verdicts_list)
    decide = sub.add_parser("verdict", help="approve or reject a verdict")
    decide.add_argument("decision", choices=["approve", "reject"])
    decide.add_argument("id", type=int)
    decide.add_argument("--comment", default="")
    decide.set_defaults(handler=verdict_decide)
    bench = sub.add_parser("swebench", help="import SWE-bench instances").add_subparsers(dest="action", required=True)
    imp = bench.add_parser("import", help="each instance of a JSON or JSONL file becomes a task")
    imp.add_argument("file")
    imp.add_argument("--repository", help="the team's repository (default: the one each instance's repo names)")
    imp.add_argument("--defaults", help="a JSON file of task file fields for every task (roster, judges, ...)")
    imp.add_argument("--roster", action="append", help='an agent line, e.g. "2 x sim-diligent" (repeatable)')
    imp.add_argument("--judge", action="append", help="a judge profile (repeatable)")
    imp.set_defaults(handler=swebench_import)
    skills.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(Client(), args)
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"swarm: {exc}{where}", file=sys.stderr)
        return outcome.FAILED
    except KeyboardInterrupt:
        return 130
