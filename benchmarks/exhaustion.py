"""RELIABILITY 18 at full size: resource exhaustion and runaway processes, through `agents.sandbox.run` (the entry
point every agent tool and verification uses), while a second agent's sandbox runs a small test at the same moment.

Two worktrees of a plain repository in the soak's data dir: "hostile" runs each case, "neighbour" runs a test
command (10 forked children writing 200 files) once the case is under way. Cases, at the sizes of the test plan:

- fork bomb: 1,000 forks, each child held 4 s. Pass: the pids cgroup's peak <= `sandbox.PIDS_MAX`.
- memory: a 4 GiB mmap, then a 4 GiB bytearray. Pass: both fail (RLIMIT_AS = `sandbox.MEMORY_MAX`).
- disk: one 300 MB file, 10,000 small files, then 600 MiB into the private /tmp. Pass: the file stops at
  `sandbox.FILE_SIZE_MAX` (RLIMIT_FSIZE) and /tmp at its tmpfs size. The note says what the 10,000 files did.
- CPU spin until the timeout. Pass: killed at the timeout (exit 124).
- runaway stdout (`yes`), cut at 10 MiB (the plan's figure) and at the project's SWARM_OUTPUT_CAP.
- `sleep inf` escaping through setsid, nohup and a double fork, with the command exiting and with it timing out.

Every case also needs: 0 of its processes left within 5 s of the command's return (a psutil walk for a marker in
the environment, which every descendant inherits, escaped or not, plus the command's cgroup gone), and the
neighbour's test passing (exit 0, 10 children, 200 files) within 60 s.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

MARK = "SWARM_SOAK_CASE"
CLEANUP_BOUND = 5.0
NEIGHBOUR_TIMEOUT = 60

NEIGHBOUR = """import os, sys
kids = []
for i in range(10):
    pid = os.fork()
    if pid == 0:
        os.makedirs("out", exist_ok=True)
        for j in range(20):
            with open(f"out/{i}-{j}.txt", "w") as f:
                f.write("x" * 4096)
        os._exit(0)
    kids.append(pid)
failed = sum(os.waitpid(p, 0)[1] != 0 for p in kids)
files = len(os.listdir("out"))
print("children", len(kids), "failed", failed, "files", files)
sys.exit(1 if failed or files != 200 else 0)
"""

SMALL_FILES = """import os
os.makedirs("small", exist_ok=True)
made = 0
for i in range(10000):
    try:
        with open(f"small/{i}.txt", "w") as f:
            f.write("x" * 1024)
    except OSError as exc:
        print("small files stopped:", exc)
        break
    made += 1
print("small made", made)
"""


@dataclass
class Outcome:
    result: object = None  # the hostile command's CommandResult
    neighbour: object = None
    neighbour_overlapped: bool = False  # the hostile command was still running when the neighbour started
    peak_pids: int = 0  # the hostile command's pids cgroup (pids.peak), or the most marked processes seen
    peak_memory: int = 0  # its memory cgroup's max usage, bytes
    seen: int = 0  # the most marked processes one psutil walk found while it ran
    left: int = 0  # marked processes (or cgroups) still there CLEANUP_BOUND s after the return
    returned_at: float = 0.0  # monotonic time the hostile command returned
    cleanup: float = 0.0  # seconds from that return until none remained
    problems: list[str] = field(default_factory=list)


def _marked(token: str) -> list[int]:
    import psutil

    found = []
    needle = f"{MARK}={token}".encode()
    for proc in psutil.process_iter():
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(proc.pid)
        except OSError:
            continue
    return found


CONTROLS = [("pids", "pids.peak"), ("pids", "pids.current"), ("memory", "memory.max_usage_in_bytes")]
CONTROLS += [("memory", "memory.peak")]  # cgroup v2


class CgroupWatch(threading.Thread):
    """Samples this process's per-command cgroups every 50 ms: the first one seen is the hostile command's."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        from agents.sandbox import cgroups

        self.parents = [parent for _, parent in cgroups._cgroup_parents()]
        self.pattern = f"run-{os.getpid()}-*"
        self.order: list[str] = []
        self.peaks: dict[str, dict[str, int]] = {}
        self.stop = threading.Event()

    def dirs(self) -> list[Path]:
        return [d for parent in self.parents for d in parent.glob(self.pattern)]

    def run(self) -> None:
        while not self.stop.is_set():
            for d in self.dirs():
                if d.name not in self.order:
                    self.order.append(d.name)
                peaks = self.peaks.setdefault(d.name, {})
                for key, control in CONTROLS:
                    try:
                        value = int((d / control).read_text())
                    except (OSError, ValueError):
                        continue
                    peaks[key] = max(peaks.get(key, 0), value)
            self.stop.wait(0.05)

    def hostile(self, key: str) -> int:
        return self.peaks.get(self.order[0], {}).get(key, 0) if self.order else 0


def run_case(trees, command: str, timeout: float, ready: str | None = None, output_cap: int | None = None) -> Outcome:
    """The command in the hostile worktree; the neighbour's test once it is under way; then the cleanup walk."""
    from agents import sandbox

    out = Outcome()
    token = secrets.token_hex(6)
    if ready is not None:
        (trees.hostile / ready).unlink(missing_ok=True)
    watch = CgroupWatch()
    watch.start()
    done = threading.Event()

    # a script run with the marker in its environment, so every process of it carries the marker, the shell too
    script = trees.hostile / f".case-{token}.sh"
    script.write_text(command + "\n")

    def hostile() -> None:
        try:
            out.result = sandbox.run(
                trees.hostile, f"exec env {MARK}={token} /bin/sh {script.name}", timeout, output_cap
            )
        finally:
            script.unlink(missing_ok=True)
            out.returned_at = time.monotonic()
            done.set()

    thread = threading.Thread(target=hostile, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not done.is_set() and time.monotonic() < deadline:  # under way: its processes exist (or its report)
        seen = len(_marked(token))
        out.seen = max(out.seen, seen)
        if (ready is None and seen) or (ready is not None and (trees.hostile / ready).exists()):
            break
        time.sleep(0.05)
    out.seen = max(out.seen, len(_marked(token)))
    out.neighbour_overlapped = not done.is_set()
    out.neighbour = sandbox.run(trees.neighbour, f"rm -rf out; python3 -c '{NEIGHBOUR}'", NEIGHBOUR_TIMEOUT)
    thread.join(timeout + 60)
    returned = out.returned_at or time.monotonic()
    while True:
        left = len(_marked(token)) + len(watch.dirs())
        if not left or time.monotonic() - returned > 2 * CLEANUP_BOUND:
            break
        time.sleep(0.05)
    out.cleanup = time.monotonic() - returned
    out.left = left if out.cleanup > CLEANUP_BOUND else 0
    watch.stop.set()
    watch.join()
    out.peak_pids, out.peak_memory = watch.hostile("pids"), watch.hostile("memory")
    if out.result is None:
        out.problems.append("the command did not return")
    if out.left:
        out.problems.append(f"{out.left} processes/cgroups left {out.cleanup:.1f} s after the return")
    n = out.neighbour
    if n.exit_code != 0 or "failed 0 files 200" not in n.output or n.seconds > NEIGHBOUR_TIMEOUT:
        out.problems.append(f"neighbour exit {n.exit_code} in {n.seconds:.1f} s: {n.output[-200:]!r}")
    return out


def _figures(out: Outcome) -> str:
    r, n = out.result, out.neighbour
    text = f"exit {r.exit_code} after {r.seconds:.1f} s" if r is not None else "no result"
    text += f"; {out.seen} processes seen, 0 left after {out.cleanup:.2f} s" if not out.left else ""
    text += f"; neighbour exit {n.exit_code} in {n.seconds:.1f} s"
    return text + ("" if out.neighbour_overlapped else " (started after the case ended)")


def case_fork_bomb(trees) -> tuple[Outcome, str]:
    from agents import sandbox
    from agents.sandbox.profile import NPROC_FALLBACK
    from tests.sandboxes import FORKER

    out = run_case(trees, f"python3 -c '{FORKER.format(marker=MARK)}' 1000 4 ready", timeout=60, ready="ready")
    report = trees.hostile / "ready"
    made = int(report.read_text() or -1) if report.exists() else -1
    by_cgroup = out.result is not None and f"pids cgroup {sandbox.PIDS_MAX}" in out.result.limits
    cap = sandbox.PIDS_MAX if by_cgroup else NPROC_FALLBACK  # the fallback is per uid, shared by every sandbox
    peak = out.peak_pids if by_cgroup else out.seen
    if not 0 <= made < 1000 or peak > cap:
        out.problems.append(f"forked {made} of 1000, peak {peak} pids, cap {cap}")
    via = "pids cgroup pids.peak" if by_cgroup else "RLIMIT_NPROC, no pids cgroup; psutil count"
    return out, f"forked {made} of 1000, peak {peak} pids ({via} cap {cap}); {_figures(out)}"


def case_memory(trees) -> tuple[Outcome, str]:
    from agents import sandbox

    mmap = 'import mmap, time; m = mmap.mmap(-1, 4 << 30); m[-1] = 1; print("allocated mmap")'
    array = 'b = bytearray(4 << 30); print("allocated bytearray")'
    out = run_case(trees, f"python3 -c '{mmap}'; python3 -c '{array}'; sleep 1", timeout=60)
    text = out.result.output if out.result else ""
    printed = [line for line in text.splitlines() if line.startswith("allocated")]
    if printed or "MemoryError" not in text or "Cannot allocate memory" not in text:
        out.problems.append(f"the 4 GiB allocations: {printed or text[-300:]!r}")
    peak = f", memory cgroup peak {out.peak_memory / 2**20:.0f} MiB" if out.peak_memory else ""
    limit = f"RLIMIT_AS {sandbox.MEMORY_MAX >> 30} GiB"
    return out, f"4 GiB mmap and bytearray both refused ({limit}){peak}; {_figures(out)}"


def case_disk(trees) -> tuple[Outcome, str]:
    from agents import sandbox
    from agents.sandbox.profile import TMP_SIZE

    command = (
        "head -c 300000000 /dev/zero > big.bin; echo big rc=$? size=$(stat -c %s big.bin); "
        f"python3 -c '{SMALL_FILES}'; "
        "i=0; while [ $i -lt 6 ]; do head -c 104857600 /dev/zero > /tmp/t$i || break; i=$((i+1)); done; "
        "echo tmp bytes=$(du -cb /tmp/t* | tail -1 | cut -f1)"  # the files' bytes (not directories, nor binds)
    )
    out = run_case(trees, command, timeout=300)
    try:
        big = (trees.hostile / "big.bin").stat().st_size
        small = list((trees.hostile / "small").glob("*.txt")) if (trees.hostile / "small").is_dir() else []
        small_bytes = sum(p.stat().st_size for p in small)
    finally:
        (trees.hostile / "big.bin").unlink(missing_ok=True)
        shutil.rmtree(trees.hostile / "small", ignore_errors=True)
    text = out.result.output if out.result else ""
    tmp = next((int(w.split("=")[1]) for w in text.split() if w.startswith("bytes=") and w[6:].isdigit()), -1)
    # du's sum of the files' sizes may pass the tmpfs size by a few KiB of partly written pages; ENOSPC is the test
    if big > sandbox.FILE_SIZE_MAX or not 0 <= tmp <= TMP_SIZE + (64 << 10) or "No space left" not in text:
        out.problems.append(f"300 MB file at {big} bytes (cap {sandbox.FILE_SIZE_MAX}), /tmp at {tmp} (cap {TMP_SIZE})")
    return out, (
        f"300 MB file stopped at {big / 2**20:.0f} MiB (RLIMIT_FSIZE {sandbox.FILE_SIZE_MAX >> 20} MiB); "
        f"600 MiB into /tmp stopped at {tmp / 2**20:.0f} MiB (tmpfs size {TMP_SIZE >> 20} MiB); "
        f"{len(small)} of 10,000 small files written ({small_bytes / 2**20:.1f} MiB, under the worktree quota); "
        f"{_figures(out)}"
    )


def case_worktree_quota(trees) -> tuple[Outcome, str]:
    """The worktree's quota (SWARM_WORKTREE_MAX_FILES / _BYTES, here 5,000 files and 300 MiB): 10,000 small files,
    then five 100 MB files; the command is killed once the worktree is past either."""
    from django.test import override_settings

    command = f"python3 -c '{SMALL_FILES}'; for i in 1 2 3 4 5; do head -c 100000000 /dev/zero > big$i.bin; done"
    with override_settings(SWARM_WORKTREE_MAX_FILES=5_000, SWARM_WORKTREE_MAX_BYTES=300 << 20):
        out = run_case(trees, command, timeout=300)
    try:
        small = len(list((trees.hostile / "small").glob("*.txt"))) if (trees.hostile / "small").is_dir() else 0
        bigs = sum(p.stat().st_size for p in trees.hostile.glob("big*.bin"))
    finally:
        shutil.rmtree(trees.hostile / "small", ignore_errors=True)
        for p in trees.hostile.glob("big*.bin"):
            p.unlink(missing_ok=True)
    code = out.result.exit_code if out.result else None
    # the watch looks every half second: what the command wrote since its last look may pass the quota, no more
    if code != 137 or bigs > 100_000_000:
        out.problems.append(f"quota did not hold: exit {code}, {small} small files, {bigs} bytes of big files")
    return out, (
        f"killed with exit {code}: {small} of 10,000 small files written (quota 5,000), "
        f"{bigs / 2**20:.0f} MiB of the five 100 MB files; {_figures(out)}"
    )


def case_cpu_spin(trees) -> tuple[Outcome, str]:
    out = run_case(trees, "python3 -c 'while True: pass'", timeout=5)
    r = out.result
    if r is None or not r.timed_out or r.exit_code != 124 or r.seconds > 5 + CLEANUP_BOUND:
        out.problems.append("the spin was not killed at its 5 s timeout")
    return out, f"spin killed at its 5 s timeout; {_figures(out)}"


def case_output(trees) -> tuple[Outcome, str]:
    from django.conf import settings

    notes = []
    outcomes = []
    for cap in (10 << 20, settings.SWARM_OUTPUT_CAP):
        out = run_case(trees, "yes", timeout=60, output_cap=cap)
        r = out.result
        size = len(r.output.encode()) if r else -1
        if r is None or not r.truncated or r.timed_out or not cap <= size <= cap + 200 or r.seconds > 10:
            out.problems.append(f"`yes` with cap {cap}: {size} bytes, truncated {r and r.truncated}")
        notes.append(f"cap {cap} B: {size} B back in {r.seconds:.2f} s, {_figures(out)}")
        outcomes.append(out)
    outcomes[0].problems += outcomes[1].problems
    return outcomes[0], "`yes` " + " | ".join(notes)


def case_escape(trees) -> tuple[Outcome, str]:
    escape = (
        "setsid sleep inf > /dev/null 2>&1 & nohup sleep inf > /dev/null 2>&1 & "
        "(sh -c 'sleep inf > /dev/null 2>&1 &'); touch started; sleep 1"
    )
    exited = run_case(trees, escape, timeout=30, ready="started")
    timed = run_case(trees, escape + "; sleep inf", timeout=3, ready="started")
    if exited.result is None or exited.result.exit_code != 0 or exited.seen < 4:
        exited.problems.append(f"exiting variant: {exited.seen} processes seen, result {exited.result}")
    if timed.result is None or not timed.result.timed_out or timed.seen < 4:
        timed.problems.append(f"timeout variant: {timed.seen} processes seen")
    exited.problems += timed.problems
    return exited, f"setsid/nohup/double fork: command exits: {_figures(exited)} | at 3 s timeout: {_figures(timed)}"


CASES = [
    ("fork bomb", case_fork_bomb),
    ("memory", case_memory),
    ("disk", case_disk),
    ("worktree quota", case_worktree_quota),
    ("cpu spin", case_cpu_spin),
    ("runaway output", case_output),
    ("escapes", case_escape),
]


def make_trees(data_dir: Path) -> SimpleNamespace:
    from agents import worktrees

    repo = data_dir / "repos" / f"exhaustion-{secrets.token_hex(4)}"
    repo.mkdir(parents=True)
    (repo / "README.md").write_text("exhaustion soak\n")
    git = ["git", "-c", "user.name=soak", "-c", "user.email=soak@localhost", "-c", "core.hooksPath=/dev/null"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "README.md"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=repo, check=True)
    spec = SimpleNamespace(path=str(repo), default_branch="main")
    task_id = 800_000 + secrets.randbelow(99_999)
    _, hostile, _ = worktrees.create(spec, task_id, "Hostile")
    _, neighbour, _ = worktrees.create(spec, task_id, "Neighbour")
    return SimpleNamespace(hostile=hostile, neighbour=neighbour)


def phase(data_dir: Path, tally):
    """`make soak` phase "exhaustion"."""
    from agents import sandbox

    sandbox.availability.cache_clear()
    ok, why = sandbox.availability()
    if not ok:
        tally.failures += 1
        tally.notes.append(f"sandbox unavailable: {why}")
        return tally
    trees = make_trees(data_dir)
    alone = sandbox.run(trees.neighbour, f"rm -rf out; python3 -c '{NEIGHBOUR}'", NEIGHBOUR_TIMEOUT)
    tally.notes.append(f"neighbour alone: exit {alone.exit_code} in {alone.seconds:.1f} s; limits: {alone.limits}")
    for name, case in CASES:
        tally.faults += 1
        try:
            out, figures = case(trees)
        except Exception as exc:  # a case that crashes is a failed case, the others still run
            tally.failures += 1
            tally.notes.append(f"{name}: FAILED, crashed: {exc!r}")
            continue
        if out.problems:
            tally.failures += 1
            tally.notes.append(f"{name}: FAILED: {'; '.join(out.problems)}")
        else:
            tally.runs += 1
        tally.notes.append(f"{name}: {figures}")
    return tally
