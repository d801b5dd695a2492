"""The runtime's guards, one per lesson, on the simulator's misbehaving agents."""

from __future__ import annotations

import pytest

from agents import conversations, runtime, services
from agents.models import Agent, ModelProfile
from judges import services as judging
from judges.models import Verdict
from tests import factories
from tests.factories import run_until_idle, task_like
from tests.openai_server import OpenAIServer, reply


def test_guesser_edits_without_reading_are_refused_and_counted(demo):
    _, task = demo
    agents = services.launch_task(task_like(task, [("Gus", "sim-guesser")]))
    run_until_idle(agents, max_steps=6)
    gus = Agent.objects.get(pk=agents[0].pk)
    assert gus.refused_edits >= 1
    refused = gus.events.filter(kind="tool_call", payload__blind_edit=True).first()
    assert refused is not None and "have not read" in refused.payload["result"]
    assert "mathutil.py" not in gus.files_edited


def test_looper_is_warned_then_paused_for_a_person(demo):
    _, task = demo
    agents = services.launch_task(task_like(task, [("Loopy", "sim-looper")]))
    run_until_idle(agents, max_steps=10)
    loopy = Agent.objects.get(pk=agents[0].pk)
    assert loopy.status == Agent.Status.PAUSED
    assert "looping" in loopy.status_reason
    assert loopy.loops_caught == 1
    assert loopy.steps == 5  # warned at the 3rd repeat, paused at the 5th: no further model calls
    assert [e.payload["action"] for e in loopy.events.filter(kind="loop")] == ["warned", "paused"]


def test_resubmitting_unchanged_work_after_a_rejection_is_refused(demo, bob):
    _, task = demo
    agents = services.launch_task(task_like(task, [("Lazy", "sim-lazy")]))
    run_until_idle(agents)
    verdict = Verdict.objects.get(agent=agents[0])
    judging.review_verdict(verdict, bob, "reject", "The test still fails.")
    factories.run_step(agents[0].pk)
    lazy = Agent.objects.get(pk=agents[0].pk)
    assert lazy.status == Agent.Status.RUNNING  # not back in the review queue
    last_call = lazy.events.filter(kind="tool_call").last()
    assert last_call.payload["tool"] == "submit" and last_call.payload["refused"]
    assert Verdict.objects.filter(agent=lazy).count() == 1


def test_agent_pauses_at_its_budget_and_a_person_can_grant_more(demo, alice):
    _, task = demo
    agents = services.launch_task(task_like(task, [("Tiny", "sim-diligent")], budget_tokens=1500))
    run_until_idle(agents)
    tiny = Agent.objects.get(pk=agents[0].pk)
    assert tiny.status == Agent.Status.PAUSED
    assert "tokens budget used up" in tiny.status_reason
    steps_before = tiny.steps
    services.grant_budget(tiny, alice.username)
    tiny.refresh_from_db()
    assert tiny.status == Agent.Status.RUNNING
    assert tiny.budget_tokens == 1500 + 1000
    factories.run_step(tiny.pk)
    tiny.refresh_from_db()
    assert tiny.steps == steps_before + 1


def test_every_prompt_states_name_role_and_budget_in_plain_words(demo):
    _, task = demo
    agents = services.launch_task(task)
    prompt = runtime.system_prompt(Agent.objects.select_related("task", "profile").get(pk=agents[0].pk))
    assert "You are Ada, a worker agent" in prompt
    assert "you have 30 of 30 minutes left" in prompt
    assert "you are not near any limit" in prompt
    assert "Grace" in prompt  # teammates are named


@pytest.fixture
def model(demo, monkeypatch):
    """A real local OpenAI-protocol server, and the demo team's profile "test-openai" that calls it."""
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-guards")
    team, _ = demo
    with OpenAIServer() as server:
        ModelProfile.objects.create(
            team=team,
            name="test-openai",
            model="openai/test-model",
            api_base=server.base_url,
            api_key_env="SWARM_TEST_KEY",
            family="test",
        )
        yield server


def test_agents_message_each_other_into_their_contexts(demo, model):
    _, task = demo
    ada, grace = services.launch_task(task_like(task, [("Ada", "test-openai"), ("Grace", "sim-diligent")]))
    model.script(reply("Telling Grace.", ("message_agent", {"to": "Grace", "text": "I take mean()."})))
    factories.run_step(ada.pk)
    ada.refresh_from_db()
    last = conversations.load(ada.pk)[-1]
    assert last["role"] == "tool" and "sent to Grace" in last["content"]
    factories.run_step(grace.pk)
    grace.refresh_from_db()
    delivered = [m for m in conversations.load(grace.pk) if m["role"] == "user"]
    assert delivered and delivered[0]["content"] == "[Message from Ada] I take mean()."
    assert grace.events.filter(kind="message", payload__sender="Ada", payload__from_agent=True).exists()
    assert ada.events.filter(kind="tool_call", payload__tool="message_agent", payload__ok=True).exists()


def test_tool_calls_with_arguments_of_the_wrong_shape_are_refused_not_crashes(demo, model):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "test-openai")]))
    calls = [
        ("list_files", {"path": "../"}),
        ("read_file", {"path": "mathutil.py", "start_line": "abc"}),
        ("read_file", {"path": 5}),
        ("search", {"pattern": "("}),
        ("edit_file", {"path": "mathutil.py", "old": 1, "new": 2}),
    ]
    model.script(reply("Trying my tools.", *calls))
    assert factories.run_step(ada.pk) is not None  # the agent goes on
    ada.refresh_from_db()
    assert ada.status == Agent.Status.RUNNING
    answers = [m["content"] for m in conversations.load(ada.pk) if m["role"] == "tool"]
    assert len(answers) == 5 and all(text.startswith("REFUSED") for text in answers), answers
    assert ada.events.filter(kind="tool_call", payload__refused=True).count() == 5


def test_agent_names_that_would_share_a_branch_are_refused(demo):
    from django import forms

    from agents.forms import clean_roster

    team, _ = demo
    try:
        clean_roster([("Ada_1", "sim-diligent"), ("ada-1", "sim-lazy")], team)
    except forms.ValidationError as exc:
        assert "unique within a task" in " ".join(exc.messages)
    else:
        raise AssertionError("two names with one branch were accepted")


def test_a_panel_of_only_the_workers_family_is_refused_on_the_task_form(demo):
    from agents.forms import TaskSpecForm
    from agents.models import ModelProfile

    team, task = demo
    same = ModelProfile.objects.create(team=team, name="sim-judge-same", model="sim/judge", family="simulator")
    data = {
        "title": "t",
        "repo": task.repo.pk,
        "goal": "g",
        "acceptance_text": "a",
        "roster_text": "Ada = sim-diligent",
        "budget_minutes": 10,
        "budget_tokens": 1000,
        "budget_usd": "1",
        "judge_rule": "unanimous",
        "judge_profiles": [same.pk],
    }
    form = TaskSpecForm(data, team=team, policy=True)  # an admin's form: the panel is a policy
    assert not form.is_valid()
    assert "another model family" in form.errors["judge_profiles"][0]
    other = ModelProfile.objects.get(team=team, name="judge-strict")
    assert TaskSpecForm({**data, "judge_profiles": [same.pk, other.pk]}, team=team, policy=True).is_valid()
