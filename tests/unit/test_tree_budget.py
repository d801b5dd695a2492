"""A planner's tree is held to the planner's budget by the model's own budget rule (Agent.budget_stop), at a cost that
does not grow with the tree: one query for any agent of it. The tree page's refresh reads the tree once. A planner
waiting for its workers shows that wait (how many of them still run) on its card, its header and the tree, apart
from a planner a person paused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from agents import bulk, planner, services
from agents.models import Agent, Membership
from tests.unit import builders


def planned(team, workers: int):
    """Pat (the planner, the task's 10,000 tokens) with Ada and Sub (a sub-planner of 4,000 tokens) below it, and
    `workers` workers of 500 tokens each below Sub: three levels."""
    task = builders.task(team, f"Planned {workers}", budget_tokens=10_000, budget_usd=Decimal("5"))
    pat = builders.agent(task, "Pat", role="planner")
    builders.agent(task, "Ada", parent=pat, allotted_tokens=2_000)
    sub = builders.agent(task, "Sub", role="planner", parent=pat, allotted_tokens=4_000, allotted_usd=Decimal("2"))
    deep = [builders.agent(task, f"W{i}", parent=sub, allotted_tokens=500) for i in range(workers)]
    return task, pat, sub, deep


def fresh(agent: Agent) -> Agent:
    return Agent.objects.select_related("task").get(pk=agent.pk)


@pytest.mark.parametrize("workers", [2, 12])
def test_a_worker_is_held_to_each_planners_tree_above_it_in_one_query_whatever_the_trees_size(
    team, workers, django_assert_num_queries
):
    _, pat, sub, (w0, w1, *_) = planned(team, workers)
    worker = fresh(w0)
    with django_assert_num_queries(1):
        assert worker.budget_stop() is None
    # a person granted W1 much more; it used all of Sub's tokens: W0, with tokens of its own left, stops too
    Agent.objects.filter(pk=w1.pk).update(extra_tokens=10**6, tokens_in=4_000)
    worker = fresh(w0)
    with django_assert_num_queries(1):
        stop = worker.budget_stop()
        assert worker.budget_used_up() == "the planner Sub's tree used its tokens budget"  # (the rows read once)
    assert (stop.planner, stop.planner_id, stop.grant_to) == ("Sub", sub.pk, "Sub")
    # Sub itself is held by its own tree; Pat's tree (10,000 tokens) still has some left, and so does Ada
    assert str(fresh(sub).budget_stop()) == "its tree used its tokens budget" and fresh(sub).budget_stop().own_tree
    assert fresh(pat).budget_stop() is None and fresh(builders.agent(pat.task, "Solo")).budget_stop() is None
    # Ada spent all of Pat's money: W0 stops by Pat's tree, though Sub's (Sub's own money) has some left
    Agent.objects.filter(pk=w1.pk).update(tokens_in=0)
    Agent.objects.filter(task=pat.task, name="Ada").update(cost_usd=Decimal("5"))
    assert str(fresh(w0).budget_stop()) == "the planner Pat's tree used its cost budget"


def test_the_tree_pages_refresh_reads_the_tree_once_whatever_its_size(team, client, django_assert_num_queries):
    victor = builders.member(team, "victor", Membership.Role.VIEWER)
    client.force_login(victor)
    counts = []
    for workers in (2, 12):
        task, pat, sub, deep = planned(team, workers)
        services.set_status(sub.pk, Agent.Status.PAUSED, f"{Agent.WAIT_PAUSE}W0, W1")
        services.set_status(deep[0].pk, Agent.Status.STOPPED, "stopped by victor")
        # the session, the user, the task, the viewer's role (twice), the tree; the navigation's teams and counts (4)
        with django_assert_num_queries(10) as queries:
            html = client.get(f"/tasks/{task.pk}/tree/", headers={"HX-Request": "true"}).content.decode()
        counts.append(len(queries))
        node = html[html.index('data-name="Sub"') :]
        assert "waiting for workers (1 of 2 running)" in node.split("</header>")[0]  # W1 runs, W0 stopped
        assert html.count('class="tree-node') == workers + 3 and 'hx-trigger="every 2s"' in html
    assert counts[0] == counts[1]
    # the tree's agents apply the budget rule (the API's tree answers each one's waiting_for) from that one read
    with django_assert_num_queries(1):
        stops = [node.agent.budget_stop() for node in planner.nodes(planner.tree(task))]
    assert len(stops) == 15 and not any(stops)


def pill(html: str) -> str:
    return html.split('class="pill ', 1)[1].split("</span>", 1)[0]


def test_a_planner_waiting_for_its_workers_says_so_apart_from_one_a_person_paused(team):
    task, pat, sub, deep = planned(team, 3)
    services.set_status(deep[0].pk, Agent.Status.AWAITING_REVIEW, "submitted")
    services.set_status(sub.pk, Agent.Status.PAUSED, f"{Agent.WAIT_PAUSE}W0, W1, W2")
    sub = Agent.objects.select_related("task", "profile").get(pk=sub.pk)
    card = render_to_string("agents/partials/agent_card.html", {"agent": sub})
    row = render_to_string("agents/partials/agent_row.html", {"agent": sub})
    header = render_to_string("agents/partials/agent_header.html", {"agent": sub, "controls": True})
    for html in (card, row, header):
        assert pill(html).startswith('waiting"') and pill(html).endswith(">waiting for workers (2 of 3 running)")
    assert f'id="agent-{sub.pk}-status"' in card and "attention" not in card.split(">")[0]
    assert sub.waiting_for == "workers" and not sub.needs_attention and not sub.needs_budget
    # paused by a person: the pill says paused, and the card asks for attention
    services.set_status(sub.pk, Agent.Status.PAUSED, "paused by alice")
    sub = Agent.objects.select_related("task", "profile").get(pk=sub.pk)
    card = render_to_string("agents/partials/agent_card.html", {"agent": sub})
    assert pill(card).startswith('paused"') and pill(card).endswith(">paused") and "attention" in card.split(">")[0]


def test_granting_several_agents_one_planners_tree_held_grants_the_planner_once(team):
    alice = builders.member(team, "alice")
    task, pat, sub, (w0, w1) = planned(team, 2)
    Agent.objects.filter(pk=w1.pk).update(extra_tokens=10**6, tokens_in=4_000)  # Sub's tree used Sub's tokens
    for agent in (sub, w0, w1):
        services.set_status(agent.pk, Agent.Status.PAUSED, "the planner Sub's tree used its tokens budget")
    held = list(Agent.objects.filter(pk__in=[w0.pk, w1.pk]).select_related("task").order_by("name"))
    outcome = bulk.act(alice, team.pk, "grant", held)
    assert str(outcome) == "granted more budget to 1; 1 went on with that grant to its planner's tree."
    assert set(task.agents.filter(status=Agent.Status.RUNNING).values_list("name", flat=True)) == {
        "Pat",
        "Ada",
        "Sub",
        "W0",
        "W1",
    }
    assert Agent.objects.get(pk=sub.pk).extra_tokens == task.budget_tokens // 2  # once, to Sub, the one it held
    assert Agent.objects.get(pk=w0.pk).extra_tokens == 0
