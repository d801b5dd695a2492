"""A planner's tree spends no more than the planner has: a worker a person granted more, whose tree used its planner's
budget, is paused by the runtime, and its page and the API say why (the planner Pat's tree used its tokens budget).
Resuming it alone is refused; its grant raises the planner's budget (a grant to the worker alone could not let it
outspend its planner), and every agent that budget held goes on. A planner waiting for its workers shows the wait.
Real git, worktrees and runtime steps (the simulator is never asked: a step over budget pauses before it)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from agents import demo_planner, guards, services, tools
from agents.llm import ToolCall
from agents.models import Agent, Event
from tests import factories
from tests.sockets import TIMEOUT, headers_for, open_agent_socket

HELD = "the planner Pat's tree used its tokens budget"
SHOWN = HELD.replace("'", "&#x27;")  # as a page shows it, escaped


def _spawn(planner: Agent, name: str) -> Agent:
    call = {"name": name, "profile": "sim-fixer", "subtask": "fix stats", "acceptance": ["it passes"], "tokens": 5000}
    call["verify_command"] = "python -m pytest -q tests/test_stats.py"
    text, *_ = tools.carry_out(planner, ToolCall("c1", "spawn_worker", call), guards.ToolState(planner))
    assert text.startswith(f"spawned {name}"), text
    return Agent.objects.get(task=planner.task, name=name)


def _header(html: str, agent: Agent) -> str:
    return html.split(f'id="agent-{agent.pk}-header"', 1)[1].split("</section>", 1)[0]


def _card(html: str, agent: Agent) -> tuple[str, str]:
    """(the card's opening tag, the card)."""
    before, after = html.split(f'id="agent-{agent.pk}-card"', 1)
    return before.rsplit("<article", 1)[1], after.split("</article>", 1)[0]


def test_a_worker_paused_by_its_planners_tree_says_why_and_a_grant_to_the_planner_lets_the_tree_go_on(
    demo, alice_client, api
):
    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    ada, grace = _spawn(pat, "Ada"), _spawn(pat, "Grace")
    # a person granted Ada far more than Pat has; she spent all of Pat's tokens
    Agent.objects.filter(pk=ada.pk).update(extra_tokens=10**7, tokens_in=pat.budget_tokens)
    for agent in (ada, grace, pat):  # each one's next step: the runtime pauses it by the model's rule
        factories.run_step(agent.pk)
    ada.refresh_from_db(), grace.refresh_from_db(), pat.refresh_from_db()
    assert ada.status == grace.status == pat.status == Agent.Status.PAUSED
    assert ada.status_reason == f"{HELD}: a person can grant more"
    assert pat.status_reason == "its tree used its tokens budget: a person can grant more"

    # her page says why, and offers the grant to Pat's tree, not a resume that would pause her again at once
    header = _header(alice_client.get(f"/agents/{ada.pk}/").content.decode(), ada)
    assert f"Ada is paused: {SHOWN}. A grant raises Pat's budget" in header
    assert ">Grant Pat's tree +50% budget</button>" in header and ">Resume</button>" not in header
    shown = api.get(f"/api/agents/{ada.pk}").json()
    assert shown["waiting_for"] == "budget"
    assert shown["budget"]["used_up"] == HELD and shown["budget"]["grant_to"] == {"id": pat.pk, "name": "Pat"}
    resumed = api.post(f"/api/agents/{ada.pk}/resume")
    assert resumed.status_code == 409
    assert resumed.json()["error"] == (
        f"Ada is paused: {HELD}. Grant more budget to resume it (the grant goes to Pat: no worker outspends its"
        " planner)."
    )

    granted = api.post(f"/api/agents/{ada.pk}/grant")
    assert granted.status_code == 200, granted.json()
    assert granted.json()["note"] == "Granted more budget: Ada, Grace, Pat went on."
    ada.refresh_from_db(), grace.refresh_from_db(), pat.refresh_from_db()
    assert ada.status == grace.status == pat.status == Agent.Status.RUNNING
    assert (ada.extra_tokens, pat.extra_tokens) == (10**7, task.budget_tokens // 2)  # Pat's budget was raised
    assert ada.status_reason == "alice granted more budget to Pat's tree"
    event = Event.objects.get(agent=pat, kind=Event.Kind.BUDGET_GRANTED)
    assert event.payload == {"by": "alice", "minutes": task.budget_minutes // 2, "for": "Ada"}
    assert ada.budget_stop() is None and pat.budget_stop() is None


def test_a_planner_waiting_for_its_workers_says_so_on_the_task_page_its_page_and_the_tree(demo, alice_client):
    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    ada, grace = _spawn(pat, "Ada"), _spawn(pat, "Grace")
    services.stop(grace, "alice")
    services.set_status(pat.pk, Agent.Status.PAUSED, f"{Agent.WAIT_PAUSE}Ada, Grace")
    waiting = ">waiting for workers (1 of 2 running)</span>"
    tag, card = _card(alice_client.get(f"/tasks/{task.pk}/").content.decode(), pat)
    assert waiting in card and "attention" not in tag  # nobody needs to act
    assert waiting in _header(alice_client.get(f"/agents/{pat.pk}/").content.decode(), pat)
    tree = alice_client.get(f"/tasks/{task.pk}/tree/").content.decode()
    assert waiting in tree.split('data-name="Pat"', 1)[1].split("</header>", 1)[0]
    # Ada settles: Pat is woken (running again); a person's pause reads as a pause
    services.stop(ada, "alice")
    pat.refresh_from_db()
    assert pat.status == Agent.Status.RUNNING
    services.pause(pat, "alice")
    tag, card = _card(alice_client.get(f"/tasks/{task.pk}/").content.decode(), pat)
    assert f'<span class="pill paused" id="agent-{pat.pk}-status">paused</span>' in card and "attention" in tag


@pytest.mark.usefixtures("fresh_channel_layer")
def test_a_waiting_planners_page_counts_its_workers_live(demo, alice):
    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    _, grace = _spawn(pat, "Ada"), _spawn(pat, "Grace")
    services.set_status(pat.pk, Agent.Status.PAUSED, f"{Agent.WAIT_PAUSE}Ada, Grace")
    headers = headers_for(alice)

    async def scenario() -> str:
        comm, _ = await open_agent_socket(headers, pat.pk, after=10**6)
        await database_sync_to_async(services.stop)(grace, "alice")  # a worker's change, not Pat's
        while True:
            message = await comm.receive_json_from(timeout=TIMEOUT)
            if "waiting for workers" in message.get("html", ""):
                await comm.disconnect()
                return message["html"]

    assert ">waiting for workers (1 of 2 running)</span>" in async_to_sync(scenario)()
