"""What changed between two versions of a taste guide, rule by rule."""

from agents.taste import diff


def test_the_diff_names_kept_added_and_removed_rules_in_order():
    old = ["Fix causes, not symptoms.", "Keep diffs small.", "No print() debugging."]
    new = ["Fix causes, not symptoms.", "Keep diffs under 50 lines.", "No print() debugging.", "Name tests well."]
    assert diff(old, new) == [
        ("kept", "Fix causes, not symptoms."),
        ("removed", "Keep diffs small."),
        ("added", "Keep diffs under 50 lines."),
        ("kept", "No print() debugging."),
        ("added", "Name tests well."),
    ]
    assert diff([], ["One."]) == [("added", "One.")]
