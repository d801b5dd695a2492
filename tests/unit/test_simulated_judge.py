"""The simulated judges score only what the evidence lets them check: the rest is "not checked", never met."""

from __future__ import annotations

import json

import pytest

from agents.simulator import judge

PASSED = {"command": "python -m pytest -q", "exit_code": 0, "output": "5 passed in 0.1s"}
COMPARED = {"compared": True, "base": {"failed": 1, "passed": 4}, "submission": {"passed": 5}}
FLAG = "`t::test_mean` ran at the base commit (failed) and is skipped now"


def opinion(behaviour: str, **evidence) -> dict:
    ev = {
        "verify": PASSED,
        "diff_stat": [{"path": "mathutil.py", "added": 1, "removed": 1}],
        "added_lines": ["return sum(values) / len(values)"],
        "test_comparison": COMPARED,
        "test_flags": [],
        **evidence,
    }
    return judge(behaviour, [{"role": "user", "content": f"<evidence>\n{json.dumps(ev)}\n</evidence>"}])


def scores(answer: dict) -> dict[str, tuple[str, str]]:
    return {c["item"]: (c["status"], c["evidence"]) for c in answer["checklist"]}


@pytest.mark.parametrize("behaviour", ["judge", "judge-lenient"])
def test_what_a_judge_cannot_check_is_not_checked_never_met(behaviour):
    answer = opinion(behaviour, acceptance=["mean([2, 4, 6]) == 4"], taste=["Keep diffs small.", "Fix causes."])
    for item in ("mean([2, 4, 6]) == 4", "Keep diffs small.", "Fix causes."):
        assert scores(answer)[item] == ("unknown", "not checked: nothing in the evidence shows it")
    assert "not checked: mean([2, 4, 6]) == 4; Keep diffs small.; Fix causes." in answer["reasons"]


def test_what_the_evidence_shows_is_scored_with_the_quote():
    rules = ["No print() debugging left in code.", "The whole test suite passes", "No test is weakened or deleted"]
    clean = scores(opinion("judge", taste=rules))
    assert clean[rules[0]] == ("met", "no print( in the 1 added lines")
    assert clean[rules[1]] == ("met", "5 passed in 0.1s")
    assert clean[rules[2]][0] == "met" and "5 tests ran at the base commit" in clean[rules[2]][1]
    dirty = opinion("judge", taste=rules, added_lines=['print("debug", values)'], test_flags=[FLAG])
    assert scores(dirty)[rules[0]] == ("not_met", 'print("debug", values)')
    assert scores(dirty)[rules[1]] == scores(dirty)[rules[2]] == ("not_met", FLAG)
    assert dirty["recommendation"] == "reject"


def test_without_a_comparison_with_the_base_whether_tests_were_weakened_is_not_checked():
    why = "the verify command wrote no pytest report at the base commit (only pytest is compared)"
    answer = opinion(
        "judge", acceptance=["No test is weakened or deleted"], test_comparison={"compared": False, "why": why}
    )
    assert scores(answer)["No test is weakened or deleted"] == ("unknown", f"not checked: {why}")


def test_the_strict_judge_rejects_a_flagged_submission_and_says_why():
    answer = opinion("judge", test_flags=[FLAG])
    assert answer["recommendation"] == "reject"
    assert f"a test no longer counts: {FLAG}" in answer["reasons"]
    assert opinion("judge")["recommendation"] == "approve"
