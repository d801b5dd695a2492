"""Charts of a task and of a team, drawn on the server as SVG from the event log and the verdicts, bucketed in SQL."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import Agent
from judges.models import Verdict


def figure(html: str, slug: str) -> str:
    found = re.search(rf'<figure class="chart [^"]*" data-chart="{slug}">(.*?)</figure>', html, re.S)
    assert found, f"no {slug} chart"
    return found.group(1)


def work(launched) -> None:
    """Some model turns on two models, a few status changes and two decided verdicts."""
    ada, linus, grace, ken = (launched[n] for n in ("Ada", "Linus", "Grace", "Ken"))
    for agent, tokens in ((ada, 1200), (linus, 300), (ada, 800)):
        turn = {"text": "thinking", "tokens_in": tokens, "tokens_out": tokens // 4, "cost_usd": tokens / 100_000}
        services.record_event(agent.pk, "model_turn", turn)
    services.set_status(grace.pk, Agent.Status.PAUSED, "paused by alice")
    services.set_status(ken.pk, Agent.Status.ERROR, "model call failed")
    services.set_status(linus.pk, Agent.Status.AWAITING_REVIEW, "submitted")
    for agent, status in ((ada, Verdict.Status.APPROVED), (linus, Verdict.Status.REJECTED), (linus, "pending")):
        Verdict.objects.create(agent=agent, commit_sha="0" * 40, recommendation="approve", status=status)


def test_the_task_page_draws_each_series_of_its_agents(launched, alice_client):
    work(launched)
    task_id = launched["Ada"].task_id
    html = alice_client.get(f"/tasks/{task_id}/").content.decode()

    status = figure(html, "agents-by-status")
    for css in ("st-running", "st-paused", "st-error", "st-awaiting_review"):
        assert re.search(rf'<polygon class="series area {css}" points="[\d., ]+">', status), css
    assert "No data yet" not in status

    tokens = figure(html, "tokens-per-model")
    lines = re.findall(r'<polyline class="series line (s-\d)" points="[\d., ]+"[^>]*><title>([^<]+)</title>', tokens)
    assert lines == [("s-0", "sim-diligent"), ("s-1", "sim-lazy")]  # the bigger spender first
    assert 'aria-label="Tokens per model: sim-diligent 2.5k, sim-lazy 375"' in tokens
    assert re.search(r'<polyline class="series line s-0"', figure(html, "cost-per-model"))
    assert re.search(r'<polyline class="series line s-0"', figure(html, "steps-per-minute"))

    verdicts = figure(html, "verdict-outcomes")
    for css in ("vo-approved", "vo-rejected", "vo-waiting"):
        assert re.search(rf'<g class="series bars {css}"><title>[^<]+</title><rect x=', verdicts), css
    assert "vo-superseded" not in verdicts


def test_the_dashboard_draws_the_teams_charts_and_is_linked_from_the_navigation(launched, alice_client):
    work(launched)
    html = alice_client.get("/dashboard/").content.decode()
    assert 'href="/dashboard/" id="nav-dashboard"' in html
    for slug in ("agents-by-status", "tokens-per-model", "cost-per-model", "steps-per-minute", "verdict-outcomes"):
        assert "No data yet" not in figure(html, slug), slug
    assert "Needs you now (3)" in html  # Grace, Ken and Linus


def test_charts_without_data_say_so(mallory, client):
    client.force_login(mallory)
    html = client.get("/dashboard/").content.decode()
    for slug in ("agents-by-status", "tokens-per-model", "cost-per-model", "steps-per-minute", "verdict-outcomes"):
        chart = figure(html, slug)
        assert "No data yet" in chart and "<polyline" not in chart and "<polygon" not in chart, slug
    assert "Nobody needs you right now." in html


def test_the_charts_cost_a_few_queries_whatever_the_number_of_events(launched, alice_client):
    task_id = launched["Ada"].task_id
    counts = []
    for _ in range(2):
        work(launched)
        with CaptureQueriesContext(connection) as queries:
            alice_client.get(f"/tasks/{task_id}/")
        counts.append(len(queries))
    assert counts[0] == counts[1]


def poll_of(html: str) -> tuple[str, str] | None:
    """The charts' poll: its URL and the ETag it sends, or None when the page no longer asks."""
    found = re.search(r'<div id="charts-poll" hidden hx-get="([^"]+)".*?"If-None-Match": "\\"(\w+)\\""', html, re.S)
    return (found.group(1), f'"{found.group(2)}"') if found else None


def test_the_task_pages_charts_refresh_alone_while_agents_work_and_stop_asking_once_they_are_done(
    launched, alice_client
):
    ada = launched["Ada"]
    page = alice_client.get(f"/tasks/{ada.task_id}/").content.decode()
    url, tag = poll_of(page)
    assert url == f"/tasks/{ada.task_id}/charts/"
    assert 'hx-trigger="every 5s"' in page  # a fresh task: its charts move fast and cost little

    unchanged = alice_client.get(url, HTTP_IF_NONE_MATCH=tag, HTTP_HX_REQUEST="true")
    assert unchanged.status_code == 304 and unchanged.content == b""  # nothing new: nothing drawn

    services.record_event(ada.pk, "model_turn", {"tokens_in": 5000, "tokens_out": 1000, "cost_usd": 0.05})
    fresh = alice_client.get(url, HTTP_IF_NONE_MATCH=tag, HTTP_HX_REQUEST="true")
    assert fresh.status_code == 200
    charts_html = fresh.content.decode()
    assert charts_html.lstrip().startswith('<section id="charts"')  # the charts alone, not the page
    assert "Tokens per model: sim-diligent 6k" in figure(charts_html, "tokens-per-model")
    assert "Attention" not in charts_html and "<main>" not in charts_html
    assert poll_of(charts_html)[1] != tag

    for agent in launched.values():
        services.set_status(agent.pk, Agent.Status.STOPPED, "stopped by alice")
    done = alice_client.get(url, HTTP_IF_NONE_MATCH=poll_of(charts_html)[1], HTTP_HX_REQUEST="true")
    assert done.status_code == 200
    assert poll_of(done.content.decode()) is None  # every agent is finished: the charts stop asking
    assert "Agents by status: stopped 8" in done.content.decode()
    assert poll_of(alice_client.get(f"/tasks/{ada.task_id}/").content.decode()) is None


def test_the_dashboards_charts_refresh_alone_while_agents_work(launched, alice_client):
    url, tag = poll_of(alice_client.get("/dashboard/").content.decode())
    assert url == "/dashboard/charts/"
    assert alice_client.get(url, HTTP_IF_NONE_MATCH=tag).status_code == 304
    services.record_event(launched["Linus"].pk, "model_turn", {"tokens_in": 700, "tokens_out": 0, "cost_usd": 0.01})
    fresh = alice_client.get(url, HTTP_IF_NONE_MATCH=tag).content.decode()
    assert "Tokens per model: sim-lazy 700" in figure(fresh, "tokens-per-model")


def test_a_finished_tasks_charts_end_when_its_last_agent_did(launched, alice_client):
    from datetime import timedelta

    from django.utils import timezone

    task = launched["Ada"].task
    long_ago = timezone.now() - timedelta(days=3)
    type(task).objects.filter(pk=task.pk).update(launched_at=long_ago)
    for agent in launched.values():
        services.set_status(agent.pk, Agent.Status.STOPPED, "stopped by alice")
    Agent.objects.filter(task=task).update(finished_at=long_ago + timedelta(minutes=40))
    html = alice_client.get(f"/tasks/{task.pk}/").content.decode()
    status = figure(html, "agents-by-status")
    assert "(agents, per minute)" in status  # 40 minutes of work, drawn by the minute, not 3 days by the hour


def test_a_long_running_tasks_charts_are_asked_for_less_often(launched, alice_client):
    from datetime import timedelta

    from django.utils import timezone

    task = launched["Ada"].task
    type(task).objects.filter(pk=task.pk).update(launched_at=timezone.now() - timedelta(hours=3))
    page = alice_client.get(f"/tasks/{task.pk}/").content.decode()
    assert poll_of(page) and 'hx-trigger="every 60s"' in page  # a point per minute: once a minute is enough
