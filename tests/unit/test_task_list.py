"""The task list: each task's pending verdicts (counted by judges' own template tag) and its cost so far."""

from __future__ import annotations

import re
from decimal import Decimal

from agents.models import Agent, Membership
from judges.models import Verdict
from tests.unit import builders


def rows(html: str) -> dict[str, list[str]]:
    """Each task row's cells as text, by the task's title."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
        if cells:
            found[cells[0].replace(" not launched", "")] = cells
    return found


def test_each_task_shows_its_own_pending_verdicts_and_what_it_cost(team, client, django_assert_max_num_queries):
    victor = builders.member(team, "victor", Membership.Role.VIEWER)
    fix, add = builders.task(team, "Fix mean()"), builders.task(team, "Add median()")
    # Ada resubmitted: her first verdict was superseded by the pending one; her cost counts once
    ada = builders.agent(fix, "Ada", Agent.Status.AWAITING_REVIEW, cost_usd=Decimal("1.50"))
    builders.verdict(ada, status=Verdict.Status.SUPERSEDED)
    builders.verdict(ada)
    grace = builders.agent(fix, "Grace", Agent.Status.AWAITING_REVIEW, cost_usd=Decimal("0.25"))
    builders.verdict(grace)
    builders.verdict(builders.agent(add, "Linus", Agent.Status.ACCEPTED), status=Verdict.Status.APPROVED)
    client.force_login(victor)
    with django_assert_max_num_queries(12):  # the counts come in one query, not one per task
        html = client.get("/").content.decode()
    table = rows(html)
    assert table["Fix mean()"][3:] == ["2", "$1.75"]
    assert table["Add median()"][3:] == ["0", "$0.00"]
