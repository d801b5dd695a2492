"""The sandbox's resources and runaway processes (RELIABILITY test 18): fork bombs, memory, file size, output and
time caps, and processes that try to outlive their command. Each cap has its positive control on the host."""

from __future__ import annotations

import secrets
import sys
import threading
import time

from agents import sandbox
from tests.sandboxes import FORKER, gone_within, host, processes_with


def test_a_fork_bomb_is_capped_and_does_not_starve_another_sandbox(trees):
    marker = f"bomb-{secrets.token_hex(4)}"
    script = FORKER.format(marker=marker)
    report = trees.ada / "bomb.txt"
    report.unlink(missing_ok=True)
    results = {}
    bomb = threading.Thread(
        target=lambda: results.update(bomb=sandbox.run(trees.ada, f"python -c '{script}' 1000 4 bomb.txt", timeout=30))
    )
    bomb.start()
    deadline = time.monotonic() + 20
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the bomb now holds every pid it could get; a second agent's command forks at the same moment
    neighbour = sandbox.run(trees.grace, f"python -c '{script}' 20 0.1 -", timeout=30)
    bomb.join(timeout=30)
    made = int(report.read_text())
    assert neighbour.exit_code == 0 and "forked 20" in neighbour.output
    assert results["bomb"].exit_code == 0
    assert made < sandbox.PIDS_MAX < 1000
    assert gone_within(marker, 15)
    control = host(f"{sys.executable} -c '{script}' {sandbox.PIDS_MAX + 50} 0.5 -")
    assert f"forked {sandbox.PIDS_MAX + 50}" in control.stdout
    print(f"fork bomb stopped at {made} children (pids.max {sandbox.PIDS_MAX}); neighbour forked 20 of 20")


def test_a_four_gib_allocation_fails_inside(trees):
    allocate = 'import mmap; m = mmap.mmap(-1, 4 << 30); m[-1] = 1; print("allocated")'
    control = host(f"{sys.executable} -c '{allocate}'")
    assert control.stdout.strip() == "allocated"
    result = sandbox.run(trees.ada, f"python -c '{allocate}'; python -c 'bytearray(4 << 30)'")
    assert "allocated" not in result.output.splitlines()  # a printed line, not the traceback quoting the code
    assert "Cannot allocate memory" in result.output and "MemoryError" in result.output


def test_a_file_is_cut_at_the_size_cap(trees):
    result = sandbox.run(trees.ada, "head -c 200000000 /dev/zero > big.bin")
    big = trees.ada / "big.bin"
    try:
        assert result.exit_code != 0
        assert big.stat().st_size <= sandbox.FILE_SIZE_MAX
    finally:
        big.unlink(missing_ok=True)


def test_runaway_output_is_cut_at_the_cap_quickly(trees):
    cap = 1 << 20
    marker = f"runaway-{secrets.token_hex(4)}"
    result = sandbox.run(trees.ada, f"yes {marker}", output_cap=cap, timeout=30)
    assert result.truncated and not result.timed_out
    assert cap <= len(result.output.encode()) <= cap + 200
    assert result.output.rstrip().endswith(f"[output cut at {cap} bytes]")
    assert result.seconds < 15  # cut at the cap, not at the 30 s timeout (room for a loaded machine)
    assert gone_within(f"yes {marker}", 15)
    print(f"`yes` cut at {cap} bytes after {result.seconds:.2f} s")


def test_a_timeout_kills_a_long_sleep(trees):
    marker = f"{100 + secrets.randbelow(900)}.{secrets.randbelow(10**6):06d}"
    result = sandbox.run(trees.ada, f"sleep {marker}", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert result.seconds < 10  # killed at its 1 s timeout, not after its 100+ s sleep (room for a loaded machine)
    assert "[killed after 1 s]" in result.output
    assert gone_within(f"sleep {marker}", 15)


def test_background_processes_that_escape_the_session_do_not_survive_the_command(trees):
    marker = f"1000.{secrets.randbelow(10**6):06d}"
    escape = (
        f"setsid sleep {marker}1 > /dev/null 2>&1 & nohup sleep {marker}2 > /dev/null 2>&1 & "
        f"(sh -c 'sleep {marker}3 > /dev/null 2>&1 &') ; echo started"
    )
    result = sandbox.run(trees.ada, escape, timeout=60)
    assert result.exit_code == 0 and "started" in result.output
    assert result.seconds < 20  # the command's end did not wait for them (nor for its 60 s timeout)
    assert gone_within(f"sleep {marker}", 15)
    # and when the command is killed at its timeout instead of exiting
    result = sandbox.run(trees.ada, f"setsid sleep {marker}4 > /dev/null 2>&1 & sleep {marker}5", timeout=1)
    assert result.timed_out
    assert gone_within(f"sleep {marker}", 15)
    # control: on the host the same escape outlives its shell
    control = host(f"setsid sleep {marker}9 > /dev/null 2>&1 &")
    assert control.returncode == 0
    survivors = processes_with(f"sleep {marker}9")
    assert survivors
    for proc in survivors:
        proc.kill()
