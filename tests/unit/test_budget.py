"""When an agent is out of budget (it then pauses and asks a person), and how near it is to a limit."""

from __future__ import annotations

from decimal import Decimal

from agents.models import Agent, TaskSpec


def over_budget(agent: Agent) -> str:
    """Which budget of its own (time, tokens, cost) the rule says is used up; "" while some of each is left."""
    stop = agent.budget_stop()
    return stop.kind if stop else ""


def agent(minutes=10, tokens=1000, usd="1.00", **used) -> Agent:
    task = TaskSpec(budget_minutes=minutes, budget_tokens=tokens, budget_usd=Decimal(usd))
    return Agent(task=task, name="ada", **used)


def test_a_fresh_agent_is_within_budget():
    fresh = agent()
    assert over_budget(fresh) == ""
    assert fresh.budget_fraction() == {"time": 0.0, "tokens": 0.0, "cost": 0.0}


def test_each_limit_stops_the_agent_on_its_own():
    assert over_budget(agent(elapsed_seconds=600)) == "time"
    assert over_budget(agent(tokens_in=700, tokens_out=300)) == "tokens"
    assert over_budget(agent(cost_usd=Decimal("1.00"))) == "cost"


def test_just_under_every_limit_is_still_within_budget():
    assert over_budget(agent(elapsed_seconds=599, tokens_in=999, cost_usd=Decimal("0.99"))) == ""


def test_budget_a_person_granted_counts_on_top_of_the_tasks():
    granted = agent(elapsed_seconds=600, tokens_in=1000, extra_minutes=5, extra_tokens=500, extra_usd=Decimal("1"))
    assert over_budget(granted) == ""
    assert granted.budget_fraction() == {"time": 600 / 900, "tokens": 1000 / 1500, "cost": 0.0}


def test_a_task_with_no_money_lets_an_agent_spend_none():
    assert over_budget(agent(usd="0")) == "cost"


def test_the_fraction_shown_never_exceeds_the_whole_budget():
    spent = agent(elapsed_seconds=6000, tokens_in=10**9, cost_usd=Decimal("50"))
    assert spent.budget_fraction() == {"time": 1.0, "tokens": 1.0, "cost": 1.0}
