"""Writing a task with a planner, on the page and in the API: the planner's profile, the pool of worker profiles it
may choose from, its limits; launching it starts one planner instead of a roster. Bad input gets a clear error."""

from __future__ import annotations

from agents import demo_planner
from agents.models import Agent, TaskSpec

SPEC = {"repo": "mathutil", "title": "Planned", "goal": "Fix it all.", "acceptance": ["The whole test suite passes"]}


def test_the_api_writes_a_task_with_a_planner_and_launching_it_starts_only_the_planner(api, demo):
    demo_planner.seed(demo[0])
    planner = {"model": "sim-planner", "workers": ["sim-fixer", "sim-diligent"], "max_workers": 3, "max_depth": 2}
    created = api.post("/api/tasks", {**SPEC, "planner": planner})
    assert created.status_code == 201, created.json()
    assert created.json()["planner"] == planner
    task = TaskSpec.objects.get(pk=created.json()["id"])
    assert task.planner == {"profile": "sim-planner", **{k: v for k, v in planner.items() if k != "model"}}
    launched = api.post(f"/api/tasks/{task.pk}/launch")
    assert launched.status_code == 201
    (only,) = Agent.objects.filter(task=task)
    assert (only.name, only.role, only.profile.name, only.parent) == ("Planner", "planner", "sim-planner", None)


def test_the_api_refuses_a_planner_it_cannot_run_naming_the_field(api, demo):
    bad = {"model": "sim-planner", "workers": ["nobody"]}
    answer = api.post("/api/tasks", {**SPEC, "planner": bad})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "planner: Not model profiles of your team: nobody, sim-planner.",
        "field": "planner",
    }
    none = api.post("/api/tasks", SPEC)
    assert none.status_code == 400 and none.json()["field"] == "agents"
    deep = api.post(
        "/api/tasks", {**SPEC, "planner": {"model": "sim-diligent", "workers": ["sim-lazy"], "max_depth": 9}}
    )
    assert deep.json() == {"error": "planner: The maximum depth is a whole number from 1 to 3.", "field": "planner"}
    assert not TaskSpec.objects.filter(title="Planned").exists()


def test_the_task_page_takes_a_planner_instead_of_agents(alice_client, demo):
    demo_planner.seed(demo[0])
    repo = demo[1].repo
    form = {
        "title": "Planned on the page",
        "repo": repo.pk,
        "goal": "Fix it all.",
        "acceptance_text": "The whole test suite passes",
        "budget_minutes": 30,
        "budget_tokens": 200000,
        "budget_usd": "5",
        "roster_text": "",
        "planner_profile": "sim-planner",
        "planner_workers": ["sim-fixer"],
        "planner_max_workers": 5,
        "planner_max_depth": 1,
    }
    page = alice_client.post("/tasks/new/", form)
    assert page.status_code == 302, page.content.decode()[:3000]
    task = TaskSpec.objects.get(title="Planned on the page")
    assert task.planner == {"profile": "sim-planner", "workers": ["sim-fixer"], "max_workers": 5, "max_depth": 1}
    assert task.roster == []
    neither = alice_client.post("/tasks/new/", {**form, "title": "Neither", "planner_profile": ""})
    assert neither.status_code == 400 and "Name at least one agent, or choose a planner." in neither.content.decode()


def test_the_tree_page_shows_each_node_and_only_those_who_may_act_on_a_subtree_do(
    alice_client, alice, victor, api, demo
):
    from agents import guards, services, tools
    from agents.llm import ToolCall

    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    spawn = {"name": "Ada", "profile": "sim-fixer", "subtask": "fix <b>stats</b>", "acceptance": ["it passes"]}
    spawn["verify_command"] = "python -m pytest -q tests/test_stats.py"
    tools.carry_out(pat, ToolCall("c1", "spawn_worker", spawn), guards.ToolState(pat))
    ada = Agent.objects.get(task=task, name="Ada")
    page = alice_client.get(f"/tasks/{task.pk}/tree/").content.decode()
    assert 'data-name="Pat"' in page and 'data-name="Ada"' in page and "fix &lt;b&gt;stats&lt;/b&gt;" in page
    assert page.index('data-name="Pat"') < page.index('data-name="Ada"')
    # a viewer sees the tree and may not act on it
    alice_client.force_login(victor)  # (one client: the test logs in as each in turn)
    assert 'data-name="Ada"' in alice_client.get(f"/tasks/{task.pk}/tree/").content.decode()
    assert alice_client.post(f"/tasks/{task.pk}/tree/stop/", {"agent": pat.pk}).status_code == 403
    alice_client.force_login(alice)
    # the operator messages the planner and everyone below it
    shown = api.get(f"/api/agents/{ada.pk}").json()
    assert shown["role"] == "worker" and shown["parent"] == {"id": pat.pk, "name": "Pat"}
    assert shown["subtask"]["verify_command"] == "python -m pytest -q tests/test_stats.py"
    sent = alice_client.post(f"/tasks/{task.pk}/tree/message/", {"agent": pat.pk, "text": "Small diffs, please."})
    assert sent.status_code == 302
    assert [m.text for m in ada.messages.all()] == ["Small diffs, please."] == [m.text for m in pat.messages.all()]
