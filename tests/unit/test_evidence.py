"""The evidence the host gathers before any judge speaks: each detector with a case it must flag and one it must not.

Removed tests and assertions and hard-coded suspects are in test_panel.py; here: tests that stopped running (from
pytest's reports of the base and the submitted commit), tests changed to pass, sensitive paths, files changed
without reading, and what a flag does to the recommendation.
"""

from __future__ import annotations

import os

import pytest

from judges import testreport
from judges.panel import SENSITIVE, _diff_facts, aggregate, gather_evidence
from tests.unit import builders


def report(*cases: str) -> str:
    """A JUnit-XML report as pytest writes it, one <testcase> per `classname::name=outcome`."""
    body = {
        "passed": "",
        "failed": '<failure message="assert 0">E assert 0</failure>',
        "error": '<error message="failed on setup">E boom</error>',
        "skipped": '<skipped type="pytest.skip" message="flaky">skip</skipped>',
        "xfailed": '<skipped type="pytest.xfail" message="known" />',
        "uncollected": '<error message="collection failure">SyntaxError</error>',
    }
    rows = []
    for case in cases:
        test, outcome = case.split("=")
        classname, name = test.split("::")
        rows.append(f'<testcase classname="{classname}" name="{name}" time="0.001">{body[outcome]}</testcase>')
    return f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">{"".join(rows)}</testsuite></testsuites>'


BASE = report("t::test_add=passed", "t::test_mean=failed", "t::test_clamp=passed", "t::test_old=skipped")


def flags_between(before: str, after: str, changed_to_pass: list[str] = ()) -> list[str]:
    return testreport.flags(
        testreport.compare(testreport.outcomes(before), testreport.outcomes(after)), changed_to_pass
    )


def test_a_report_gives_each_tests_outcome():
    text = report("tests.test_a::test_x=passed", "tests.test_a.TestB::test_y[1-2]=xfailed", "x::test_z=error")
    assert testreport.outcomes(text) == {
        "tests.test_a::test_x": "passed",
        "tests.test_a.TestB::test_y[1-2]": "xfailed",
        "x::test_z": "error",
    }


@pytest.mark.parametrize(
    "after, how",
    [
        ("skipped", "is skipped now"),
        ("xfailed", "is marked as expected to fail now"),
        ("uncollected", "cannot be collected now"),
    ],
)
def test_a_test_that_ran_and_no_longer_runs_is_flagged(after, how):
    now = report("t::test_add=passed", f"t::test_mean={after}", "t::test_clamp=passed")
    assert flags_between(BASE, now) == [f"`t::test_mean` ran at the base commit (failed) and {how}"]


def test_a_test_missing_from_the_run_is_flagged_whatever_made_it_go():
    # deselected, ignored by collect_ignore, renamed out of the test pattern or removed: it simply is not there
    now = report("t::test_add=passed", "t::test_clamp=passed", "t::check_mean=passed")
    assert flags_between(BASE, now) == [
        "`t::test_mean` ran at the base commit (failed) and does not run now (deselected, ignored, renamed or removed)"
    ]


def test_a_passing_test_that_stops_running_is_flagged_too():
    now = report("t::test_add=skipped", "t::test_mean=passed", "t::test_clamp=passed")
    assert flags_between(BASE, now) == ["`t::test_add` ran at the base commit (passed) and is skipped now"]


def test_every_test_still_running_and_new_ones_are_not_flagged():
    now = report("t::test_add=passed", "t::test_mean=passed", "t::test_clamp=passed", "t::test_new=passed")
    # test_old was skipped at the base already: it did not run then, so it is not missed now
    assert flags_between(BASE, now) == []
    found = testreport.compare(testreport.outcomes(BASE), testreport.outcomes(now))
    assert found["now_passing"] == ["t::test_mean"] and found["new"] == ["t::test_new"]


def test_many_stopped_tests_are_named_up_to_five_failing_ones_first_then_counted():
    many = [f"t::test_{i}=passed" for i in range(9)] + ["t::test_z=failed"]
    flags = flags_between(report(*many), report("t::test_0=passed"))
    assert flags[0].startswith("`t::test_z` ran at the base commit (failed)")
    assert len(flags) == 6 and flags[-1] == "… and 4 more tests that no longer count"


@pytest.mark.parametrize("text", ["not xml at all", '<!DOCTYPE x [<!ENTITY a "b">]><testsuites/>'])
def test_a_report_that_cannot_be_trusted_reads_as_no_report(text):
    assert testreport.outcomes(text) is None


def test_the_host_reads_the_report_without_following_what_the_sandbox_left(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("<testsuites/>")
    (tmp_path / "link.xml").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.xml")
    os.link(secret, tmp_path / "hardlink.xml")
    plain = tmp_path / "plain.xml"
    plain.write_text(BASE)
    assert testreport.read_report(tmp_path / "link.xml") is None
    assert testreport.read_report(tmp_path / "fifo.xml") is None  # and does not hang on it
    assert testreport.read_report(tmp_path / "hardlink.xml") is None
    assert testreport.read_report(tmp_path / "missing.xml") is None
    assert testreport.read_report(plain) == BASE


# --- a failing test that passes now: was the code fixed, or the test?

TESTS_BEFORE = """import pytest
CASES = [(2, 4)]

def test_mean():
    assert mean([2, 4, 6]) == 4

@pytest.mark.parametrize("x, y", CASES)
def test_double(x, y):
    assert x * 2 == y

class TestClamp:
    def test_high(self):
        assert clamp(15, 0, 10) == 10
"""


def sources(after: str):
    return lambda side, path: TESTS_BEFORE if side == "base" else after


@pytest.mark.parametrize(
    "test, old, new",
    [
        ("tests.test_m::test_mean", "assert mean([2, 4, 6]) == 4", "assert mean([2, 4, 6]) > 0"),
        ("tests.test_m::test_mean", "assert mean([2, 4, 6]) == 4", "assert mean([3, 3]) == 3"),
        ("tests.test_m::test_double[2-4]", "CASES = [(2, 4)]", "CASES = [(2, 5)]"),
        ("tests.test_m.TestClamp::test_high", "== 10", "<= 15"),
    ],
)
def test_a_test_that_passes_only_after_its_own_code_changed_is_flagged(test, old, new):
    changed = testreport.changed_to_pass([test], ["tests/test_m.py"], sources(TESTS_BEFORE.replace(old, new)))
    assert changed == [test]


def test_a_test_made_to_pass_by_fixing_the_code_is_not_flagged():
    # the test file is not among the changed files: the code under test changed
    assert testreport.changed_to_pass(["tests.test_m::test_mean"], ["mathutil.py"], sources(TESTS_BEFORE)) == []
    # the test file changed elsewhere (a new test, a comment): this test's own code did not
    after = (
        TESTS_BEFORE.replace("def test_mean():", "def test_mean():  # the bug of #12") + "\ndef test_new():\n    pass\n"
    )
    changed = ["mathutil.py", "tests/test_m.py"]
    assert testreport.changed_to_pass(["tests.test_m::test_mean"], changed, sources(after)) == []


def test_a_test_id_names_its_file_even_when_pytest_ran_in_a_subdirectory():
    assert testreport.locate("tests.test_m.TestClamp::test_high[1]", ["pkg/tests/test_m.py"]) == (
        "pkg/tests/test_m.py",
        ["TestClamp"],
        "test_high",
    )
    assert testreport.locate("tests.test_m::test_high", ["tests/test_other.py"]) is None


# --- sensitive paths and files changed without reading (gather_evidence)


@pytest.mark.parametrize("path", ["conftest.py", "tox.ini", "pytest.ini", "setup.cfg", "tests/conftest.py"])
def test_files_that_decide_which_tests_run_are_sensitive(path):
    assert SENSITIVE.search(path)


@pytest.mark.parametrize("path", ["inflection/__init__.py", "test_inflection.py", "docs/tox.md"])
def test_code_and_tests_are_not_sensitive(path):
    assert not SENSITIVE.search(path)


def test_a_file_changed_without_being_read_first_is_named(team):
    ada = builders.agent(builders.task(team), files_read=["mathutil.py"])
    stat = [{"path": "mathutil.py", "added": 1, "removed": 1}, {"path": "textutil.py", "added": 1, "removed": 0}]
    evidence = gather_evidence(ada, builders.SHA, None, "", stat, [])
    assert evidence["changed_without_reading"] == ["textutil.py"]
    ada.files_read = ["mathutil.py", "textutil.py"]
    assert gather_evidence(ada, builders.SHA, None, "", stat, [])["changed_without_reading"] == []


def test_a_diff_that_adds_tests_and_assertions_removes_none():
    added = (
        "diff --git a/tests/test_a.py b/tests/test_a.py\n+++ b/tests/test_a.py\n"
        "+def test_more():\n+    assert mean([1]) == 1\n"
    )
    assert (_diff_facts(added)["tests_removed"], _diff_facts(added)["assertions_removed"]) == (0, 0)


# --- a flag decides: never recommended for approval, whoever votes what


@pytest.mark.parametrize("rule", ["unanimous", "majority"])
def test_a_flagged_submission_is_never_recommended_for_approval(rule):
    assert aggregate(rule, True, ["approve", "approve"], flagged=True) == "needs_person"
    assert aggregate(rule, True, [], flagged=True) == "needs_person"
    assert aggregate(rule, True, ["approve", "reject"], flagged=True) == "reject"
    assert aggregate(rule, True, ["approve", "approve"], flagged=False) == "approve"


def test_verification_that_passes_does_not_outvote_a_judge_who_rejects():
    assert aggregate("unanimous", True, ["approve", "reject"]) == "reject"
    assert aggregate("majority", True, ["reject", "reject", "approve"]) == "reject"
