"""The search tool's matching, in a child process with a wall-clock deadline.

An agent writes the pattern, and a regular expression like `(a+)+$` over a long line backtracks for longer than
anyone will wait. The `regex` package's own `timeout=` counts CPU time, so on a busy machine it can take many
times longer by the clock, and while matching in this process it would also hold a worker thread. So the
matching runs in a short-lived child (`python -I`, no environment, so no keys; its own CPU and memory limits):
it prints each hit as it goes, and at the deadline it is killed and the hits so far are kept. The pattern is
data for the child, never code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import regex

SEARCH_SECONDS = 3.0  # for a whole search, however many files
MEMORY_BYTES = 1024 * 1024 * 1024

CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
import regex
job = json.load(sys.stdin)
compiled = regex.compile(job["pattern"])
hits = 0
for rel, path in job["files"]:
    try:
        with open(path, "rb") as fh:
            text = fh.read(job["max_read"] + 1)
    except OSError:
        continue
    if len(text) > job["max_read"]:
        continue
    print(json.dumps([rel]), flush=True)  # where a search that is killed was
    for number, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), 1):
        if compiled.search(line):
            print(json.dumps([rel, number, line[:300]]), flush=True)
            hits += 1
            if hits >= job["max_hits"]:
                sys.exit(0)
"""


class InvalidPattern(ValueError):
    pass


@dataclass
class Found:
    hits: list[tuple[str, int, str]]
    stopped: str  # why the search ended early ("timed out after 3 s in big.txt"), or "" when it finished


def compile_check(pattern: str) -> None:
    """InvalidPattern with the parser's message, before any child is started."""
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise InvalidPattern(str(exc)) from None


def search(pattern: str, files: list[tuple[str, str]], max_read: int, max_hits: int) -> Found:
    """Lines matching `pattern` in `files` ((shown name, path) pairs) as (name, line number, text), in order."""
    compile_check(pattern)
    job = json.dumps({"pattern": pattern, "files": files, "max_read": max_read, "max_hits": max_hits})
    script = CHILD.format(memory=MEMORY_BYTES, cpu=int(SEARCH_SECONDS) + 2)
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", script],
            input=job,
            capture_output=True,
            text=True,
            env={},
            timeout=SEARCH_SECONDS,
        )
        out, stopped = done.stdout, "" if done.returncode == 0 else "stopped at its CPU or memory limit"
    except subprocess.TimeoutExpired as expired:
        out, stopped = expired.stdout or "", f"timed out after {SEARCH_SECONDS:g} s"
        if isinstance(out, bytes):
            out = out.decode("utf-8", errors="replace")
    hits, where = [], ""
    for line in out.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # the last line of a killed child may be cut short
        if len(item) == 1:
            where = item[0]
        else:
            hits.append(tuple(item))
    if stopped and where:
        stopped += f" in {where}"
    return Found(hits, stopped)
