"""How a judge panel's opinions become a recommendation, and how a judge's answer is read."""

from __future__ import annotations

import json

import pytest

from judges.panel import SENSITIVE, _diff_facts, _looks_hard_coded, aggregate, parse_opinion


def test_failing_verification_rejects_even_when_every_judge_approves():
    assert aggregate("unanimous", False, ["approve", "approve"]) == "reject"
    assert aggregate("majority", False, ["approve", "approve", "approve"]) == "reject"


def test_a_panel_with_no_opinions_needs_a_person():
    assert aggregate("unanimous", True, []) == "needs_person"
    assert aggregate("majority", True, []) == "needs_person"


def test_a_unanimous_panel_with_one_error_opinion_does_not_approve():
    assert aggregate("unanimous", True, ["approve", "approve", "error"]) == "needs_person"


def test_a_majority_rule_with_one_error_opinion_in_two_does_not_approve():
    assert aggregate("majority", True, ["approve", "error"]) == "needs_person"


def test_a_majority_rule_approves_with_more_approvals_than_anything_else():
    assert aggregate("majority", True, ["approve", "approve", "error"]) == "approve"
    assert aggregate("majority", True, ["approve", "approve", "reject"]) == "approve"


def test_a_tie_is_not_a_majority():
    assert aggregate("majority", True, ["approve", "approve", "reject", "needs_person"]) == "reject"
    assert aggregate("majority", True, ["approve", "needs_person"]) == "needs_person"


def test_one_rejection_blocks_a_unanimous_panel():
    assert aggregate("unanimous", True, ["approve", "approve", "reject"]) == "reject"


def test_only_errors_never_approve():
    assert aggregate("majority", True, ["error", "error", "error"]) == "needs_person"
    assert aggregate("unanimous", True, ["error"]) == "needs_person"


def test_an_unknown_rule_is_as_strict_as_unanimous():
    assert aggregate("mostly", True, ["approve", "approve", "error"]) == "needs_person"
    assert aggregate("mostly", True, ["approve", "approve"]) == "approve"


# --- reading a judge's answer


def test_a_judges_json_is_found_inside_prose():
    text = 'Here is my verdict:\n{"recommendation": "approve", "checklist": [], "reasons": ["tests pass"]}\nThanks.'
    assert parse_opinion(text) == {"recommendation": "approve", "checklist": [], "reasons": ["tests pass"]}


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("I approve this change.", "no JSON object"),
        ('{"recommendation": "ship it", "checklist": [], "reasons": []}', "recommendation must be one of"),
        ('{"recommendation": "approve", "checklist": [{"item": "x", "status": "yes"}], "reasons": []}', "checklist"),
        ('{"recommendation": "approve", "checklist": "all met", "reasons": []}', "checklist"),
        ('{"recommendation": "approve", "checklist": [], "reasons": "fine"}', "reasons"),
    ],
)
def test_a_malformed_answer_is_refused_with_what_is_wrong(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_opinion(text)


def test_extra_fields_a_judge_adds_are_dropped():
    text = '{"recommendation": "reject", "checklist": [], "reasons": ["no"], "merge_now": true}'
    assert "merge_now" not in parse_opinion(text)


# --- the evidence the host computes from the diff


DIFF = """\
diff --git a/tests/test_stats.py b/tests/test_stats.py
--- a/tests/test_stats.py
+++ b/tests/test_stats.py
@@ -1,8 +1,5 @@
-def test_mean_of_empty():
-    assert mean([]) == 0
 def test_mean():
-    assert mean([1, 2, 3]) == 2
+    assert mean([1, 2, 3]) >= 0
     assert mean([2]) == 2
diff --git a/stats.py b/stats.py
--- a/stats.py
+++ b/stats.py
@@ -1,2 +1,3 @@
 def mean(values):
+    if values == [1, 2, 3]:
+        return 2
"""


def test_removed_tests_and_weakened_assertions_are_counted():
    facts = _diff_facts(DIFF)
    assert facts["tests_removed"] == 1
    assert facts["assertions_removed"] == 2  # the deleted test's and the rewritten one
    assert facts["added_lines"] == ["if values == [1, 2, 3]:", "return 2"]


def test_an_assertion_moved_unchanged_is_not_a_weakened_test():
    moved = (
        "diff --git a/tests/test_a.py b/tests/test_a.py\n+++ b/tests/test_a.py\n"
        "-    assert mean([2]) == 2\n+    assert mean([2]) == 2\n"
    )
    assert _diff_facts(moved)["assertions_removed"] == 0


def test_code_that_returns_what_the_tests_expect_is_suspected_of_hard_coding():
    literals = {"[1, 2, 3]", "2"}
    assert _looks_hard_coded("if values == [1, 2, 3]:", literals)
    assert _looks_hard_coded("return 2", literals)
    assert not _looks_hard_coded("return sum(values) / len(values)", literals)
    assert not _looks_hard_coded("total = [1, 2, 3]", literals)  # not a comparison or a return


@pytest.mark.parametrize(
    "path", [".github/workflows/ci.yml", "requirements-dev.txt", "pyproject.toml", "tests/conftest.py", "Makefile"]
)
def test_paths_that_change_how_code_is_built_or_tested_are_sensitive(path):
    assert SENSITIVE.search(path)


@pytest.mark.parametrize("path", ["stats.py", "docs/requirements.md", "src/makefile_parser.py"])
def test_ordinary_source_files_are_not_sensitive(path):
    assert not SENSITIVE.search(path)


def test_an_opinion_that_skips_a_taste_rule_is_incomplete():
    rules = ["Keep diffs small.", "No print() debugging left in code."]
    one = [{"kind": "taste", "item": "keep  diffs small.", "status": "met", "evidence": "3 lines"}]
    text = '{"recommendation": "approve", "checklist": %s, "reasons": ["ok"]}'
    with pytest.raises(ValueError, match="skips taste rules .*“No print\\(\\) debugging left in code.”"):
        parse_opinion(text % json.dumps(one), rules)
    both = [*one, {"kind": "taste", "item": rules[1], "status": "not_met", "evidence": "print(x)"}]
    assert parse_opinion(text % json.dumps(both), rules)["checklist"] == both
