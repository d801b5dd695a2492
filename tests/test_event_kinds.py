"""Every kind of event is declared (Event.Kind, or by the app that records it) and rendered by its own partial,
in the directory of the app that declares it; a kind nobody declared still shows its payload. No database."""

from __future__ import annotations

import datetime

import pytest
from django.template.loader import get_template, render_to_string

from agents.events import render_event
from agents.models import Event, event_kinds, register_event_kinds
from judges.models import EventKind

# One event of every declared kind, as the code that records it writes it, and the text a person must see.
SAMPLES: dict[str, tuple[dict, list[str]]] = {
    "model_turn": (
        {"text": "Reading mathutil.py first.", "tokens_in": 10, "tokens_out": 5, "cost_usd": 0.0},
        ['<span class="label">model</span>', "Reading mathutil.py first."],
    ),
    "tool_call": (
        {"tool": "run_command", "args": {"command": "pytest -q"}, "ok": False, "result": "1 failed, 2 passed"},
        [
            '<span class="label tool">run_command</span>',
            "failed</span>",
            "&quot;command&quot;: &quot;pytest -q&quot;",
            "1 failed, 2 passed",
        ],
    ),
    "status": (
        {"status": "awaiting_review", "reason": "submitted: waiting for verification"},
        ['<span class="pill awaiting_review">awaitingreview</span>', "submitted: waiting for verification"],
    ),
    "message": (
        {"message_id": 7, "text": "Use the median.", "sender": "alice", "from_agent": False, "mode": "steer"},
        ["message from alice", '<span class="mode">steer</span>', 'id="message-7-receipt">queued<', "Use the median."],
    ),
    "message_delivered": (
        {"message_id": 7, "sender": "alice", "mode": "steer"},
        ["delivered</span> message #7 from alice is in the agent's context"],
    ),
    "message_answered": ({"message_id": 7}, ["answered</span> the agent's turn above answers message #7"]),
    "nudge": (
        {"text": "[Swarm runtime] Keep going, Ada", "reason": "ended its turn without a tool call"},
        ['<span class="label warn">nudge</span> ended its turn without a tool call', "[Swarm runtime] Keep going, Ada"],
    ),
    "loop": (
        {"tool": "list_files", "repeats": 5, "action": "paused"},
        ["list_files repeated 5 times with the same result: paused for a person"],
    ),
    "retry": (
        {"seconds": 2.5, "reason": "rate limited (429)"},
        ["waiting</span> rate limited (429): retrying in 2.5 s"],
    ),
    "steered": (
        {"skipped": ["read_file", "run_command"]},
        ['<span class="label">steered</span> skipped read_file, run_command to take a person\'s message first'],
    ),
    "interrupted": (
        {"what": "command"},
        ['<span class="label">interrupted</span> the command in flight was cancelled to take a person'],
    ),
    "compaction": ({"messages": 12}, ["older tool output was summarised to stay inside the model's context"]),
    "budget_granted": ({"by": "alice", "minutes": 15}, ["alice granted more budget (+15 min and half the tokens"]),
    "question": (
        {"question": "Divide by n or by n-1? <b>bold</b>"},
        ['<span class="label warn">question for a person</span>', "Divide by n or by n-1? &lt;b&gt;bold&lt;/b&gt;"],
    ),
    "skill_loaded": (
        {"skill": "small-diff", "version": 2, "files": ["references/<x>.md"]},
        ["loaded <strong>small-diff</strong> (version 2), with 1 file: references/&lt;x&gt;.md"],
    ),
    "cleanup": ({"by": "alice", "summary": "removed the worktree"}, ["clean-up</span> by alice: removed the worktree"]),
    "verification": (
        {"state": "started", "command": "python -m pytest -q"},
        ["verification</span> running <code>python -m pytest -q</code>"],
    ),
    "verdict": (
        {"verdict_id": 3, "recommendation": "needs_person", "reasons": ["sensitive paths", "tests pass"], "judges": []},
        ['<span class="pill rejected">needsperson</span> sensitive paths; tests pass — waiting for a person'],
    ),
    "merge_failed": (
        {"verdict_id": 3, "error": "CONFLICT (content): mathutil.py"},
        ['merge failed</span> <span class="pre-wrap">CONFLICT (content): mathutil.py</span>'],
    ),
    "exported": ({"by": "bob", "verdict_id": 3}, ["exported</span> bob downloaded the work as a patch"]),
    "brought_up_to_date": (
        {"verdict_id": 3, "target": "main", "commit": "0123456789abcdef", "conflicts": ["mathutil.py"]},
        ["conflict</span> main moved: merged into this branch as <code>0123456789</code>", "in mathutil.py"],
    ),
}
GENERIC = '<pre>{\n  "'  # what the fallback shows: the payload as JSON


def event(kind: str, payload: dict) -> Event:
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    return Event(agent_id=4, seq=9, kind=kind, payload=payload, created_at=at)


def test_every_declared_kind_has_a_sample_here():
    assert sorted(SAMPLES) == sorted(value for value, _ in event_kinds())


@pytest.mark.parametrize("kind", SAMPLES)
def test_each_kind_is_rendered_by_its_own_partial_with_its_key_text(kind):
    payload, texts = SAMPLES[kind]
    html = render_to_string("agents/partials/event.html", {"event": event(kind, payload)})
    assert html.startswith(f'<li class="event kind-{kind}" id="event-4-9" data-seq="9">')
    assert '<time datetime="2026-01-02T03:04:05+00:00">03:04:05</time>' in html
    for text in texts:
        assert text in html
    assert GENERIC not in html
    app = "judges" if kind in EventKind.values else "agents"
    assert event(kind, payload).template_name == f"{app}/events/{kind}.html"
    get_template(f"{app}/events/{kind}.html")  # the partial is in its app's directory


def test_the_judges_declare_their_own_kinds_and_render_them_from_their_templates():
    assert set(EventKind.values) == {"verification", "verdict", "merge_failed", "exported", "brought_up_to_date"}
    assert not set(EventKind.values) & set(Event.Kind.values)  # the agents app does not list them
    assert {value for value, _ in event_kinds()} == set(Event.Kind.values) | set(EventKind.values)
    assert all(event(kind, {}).template_name.startswith("judges/events/") for kind in EventKind.values)


def test_a_kind_nobody_declared_still_shows_its_payload():
    html = render_to_string("agents/partials/event.html", {"event": event("something_new", {"detail": "new"})})
    assert event("something_new", {}).template_name == "agents/events/_generic.html"
    assert '<span class="label">something_new</span> <pre>{\n  &quot;detail&quot;: &quot;new&quot;\n}</pre>' in html


def test_a_kind_cannot_be_declared_by_two_apps():
    with pytest.raises(ValueError, match="'verification' is declared twice"):
        register_event_kinds("another_app", EventKind)
    with pytest.raises(ValueError, match="'model_turn' is declared twice"):
        register_event_kinds("judges", Event.Kind)
    register_event_kinds("judges", EventKind)  # the same declaration again changes nothing
    assert event("verdict", {}).template_name == "judges/events/verdict.html"


@pytest.mark.parametrize("kind", ["model_turn", "tool_call", "nudge", "merge_failed", "something_new"])
def test_what_an_agent_wrote_is_shown_as_text_never_as_markup(kind):
    attack = "<img src=x onerror=alert(1)>"
    payload = {"text": attack, "tool": "run_command", "args": attack, "result": attack, "error": attack, "reason": ""}
    html = render_to_string("agents/partials/event.html", {"event": event(kind, payload)})
    assert attack not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_broadcast_event_also_updates_the_receipt_and_clears_the_streamed_text():
    delivered = render_event(event("message_delivered", {"message_id": 7, "sender": "alice"}))
    assert '<span class="receipt state-delivered" id="message-7-receipt">delivered</span>' in delivered
    turn = render_event(event("model_turn", {"text": "done"}))
    assert '<li class="event streaming" id="agent-4-streaming" hidden></li>' in turn
    page = render_to_string("agents/partials/event.html", {"event": event("message_delivered", {"message_id": 7})})
    assert 'id="message-7-receipt"' not in page  # on the page the message's own receipt is already right
