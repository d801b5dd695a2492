"""Who needs a person now: why each agent waits, oldest wait first, with the wait time; cheap at any fleet size."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agents import events, fleet, services
from agents.models import Agent, Event
from tests import factories


def test_the_queue_says_why_each_agent_waits_oldest_first(launched, alice_client):
    ada, grace, linus, alan, ken = (launched[n] for n in ("Ada", "Grace", "Linus", "Alan", "Ken"))
    services.set_status(linus.pk, Agent.Status.AWAITING_REVIEW, "submitted: waiting for verification")
    services.set_status(ada.pk, Agent.Status.ERROR, "model call failed: 500")
    Agent.objects.filter(pk=grace.pk).update(tokens_in=10_000_000)
    services.set_status(grace.pk, Agent.Status.PAUSED, "tokens budget used up: a person can grant more")
    services.set_status(alan.pk, Agent.Status.PAUSED, f"{Agent.LOOP_PAUSE}run_command repeated 5 times")
    services.pause(ken, "alice")
    # their waits began minutes apart: Ada first, then Linus, Grace, Alan, Ken
    now = timezone.now()
    for minutes, agent in zip((50, 40, 30, 20, 10), (ada, linus, grace, alan, ken), strict=True):
        last = Event.objects.filter(agent=agent, kind="status").order_by("-seq").first()
        Event.objects.filter(pk=last.pk).update(created_at=now - timedelta(minutes=minutes))

    waiting, total = fleet.attention_queue(Agent.objects.filter(task=ada.task))
    assert [a.name for a in waiting] == ["Ada", "Linus", "Grace", "Alan", "Ken"]
    assert total == 5
    assert [a.waiting_for for a in waiting] == ["error", "verdict", "budget", "loop", "paused"]

    html = alice_client.get(f"/tasks/{ada.task_id}/").content.decode()
    strip = html[html.index('id="attention"') :]
    order = [strip.index(f">{name} <span") for name in ("Ada", "Linus", "Grace", "Alan", "Ken")]
    assert order == sorted(order)
    for label in ("error", "verdict pending", "tokens budget used up", "looping", "paused"):
        assert f'<span class="why">{label}</span>' in strip
    assert '<span class="since">50\xa0minutes</span>' in strip


def test_at_fleet_size_the_strip_names_the_oldest_and_counts_the_rest_in_one_query(demo, django_assert_num_queries):
    _, template = demo
    task = factories.make_fleet(template, 600)
    waiting_total = task.agents.filter(status__in=Agent.ATTENTION).count()
    with django_assert_num_queries(1):
        waiting, total = fleet.attention_queue(task.agents.all())
        names = [a.name for a in waiting]  # nothing more is read to name them
    assert total == waiting_total
    assert len(waiting) == fleet.ATTENTION_SHOWN
    expected = task.agents.filter(status__in=Agent.ATTENTION).order_by("name")[: fleet.ATTENTION_SHOWN]
    assert names == [a.name for a in expected]  # make_fleet: the first agents have waited longest
    html = events.render_attention(task)
    assert f"and {waiting_total - fleet.ATTENTION_SHOWN} more waiting" in html
    assert f"Needs you now ({waiting_total})" in html


def test_nobody_waiting_says_so(launched, alice_client):
    task_id = next(iter(launched.values())).task_id
    assert "Nobody needs you right now." in alice_client.get(f"/tasks/{task_id}/").content.decode()
