"""The search tool: a regular expression an agent writes cannot hang the process that runs it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from agents import search, tools

CATASTROPHIC = r"(a+)+$"


@pytest.fixture
def worktree(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "mathutil.py").write_text("def mean(xs):\n    return sum(xs) / len(xs)\n")
    (tmp_path / "long.txt").write_text("a" * 100_000 + "!\n")
    return str(tmp_path)


def _search(worktree: str, pattern: str, path: str = ".") -> tools.ToolOutcome:
    return tools.execute(worktree, "search", {"pattern": pattern, "path": path}, set())


def test_a_catastrophic_pattern_over_a_long_line_ends_with_search_timed_out(worktree):
    started = time.monotonic()
    outcome = _search(worktree, CATASTROPHIC)
    elapsed = time.monotonic() - started
    # at its deadline (the answer says it timed out, not that the child died of its CPU limit), with room for a
    # loaded machine; unbounded, the pattern backtracks 2^100000 times
    assert elapsed < search.SEARCH_SECONDS + 10
    assert not outcome.ok
    assert outcome.result.startswith("search timed out") and "long.txt" in outcome.result


def test_python_s_own_re_hangs_on_that_pattern(tmp_path):
    # positive control: the standard library backtracks 2^40 times on a line of just 40 a's
    script = f"import re; re.search({CATASTROPHIC!r}, 'a' * 40 + '!')"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", script], timeout=3)


def test_the_rest_of_the_process_carries_on_while_a_search_backtracks(worktree):
    thread = threading.Thread(target=_search, args=(worktree, CATASTROPHIC))
    thread.start()
    time.sleep(0.2)
    gaps, last = [], time.monotonic()
    while thread.is_alive() and len(gaps) < 100:
        time.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
    thread.join()
    # the matcher lets go of the GIL: a web process stays responsive. Held, one gap would last the whole search
    # (its 3 s deadline); a loaded machine may stretch a 10 ms sleep, so at least ten looks and no gap near that
    assert len(gaps) >= 10 and max(gaps) < 1.5, (len(gaps), max(gaps))


def test_an_ordinary_search_still_answers_file_line_and_text(worktree):
    outcome = _search(worktree, r"def \w+\(")
    assert outcome.ok
    assert outcome.result == "mathutil.py:1: def mean(xs):"
    assert _search(worktree, r"return sum", "mathutil.py").result == "mathutil.py:2:     return sum(xs) / len(xs)"
    assert _search(worktree, r"no such thing").result == "no match"
    with pytest.raises(tools.ToolRefused, match="invalid regular expression"):
        _search(worktree, "(")
