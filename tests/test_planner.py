"""A task launched with a planner: the simulated planner reads the shop repository (three independent defects, each
caught by its own test file), spawns one worker per defect on branches made from its own commit, waits for them
without holding a thread, reads their handoffs once their approved work merged into its branch, and submits its
branch, which passes the task's verify command and merges into main. Its limits (budget carved from the parent's,
maximum workers, maximum depth) refuse a spawn with a clear tool error. Real git, sandbox and judges (simulated)."""

from __future__ import annotations

from agents import demo_planner, events, guards, planner, sandbox, services, tools, worktrees
from agents.llm import ToolCall
from agents.models import Agent, Event, TaskSpec
from judges.models import Verdict
from tests import factories


def _planner_task(demo, **planner_conf) -> TaskSpec:
    team, _ = demo
    task = demo_planner.seed(team)
    if planner_conf:
        task.planner = {**task.planner, **planner_conf}
        task.save(update_fields=["planner"])
    return task


def _drive(task: TaskSpec, rounds: int = 80) -> None:
    """Step every running agent of the task (its spawned workers too) until none runs."""
    for _ in range(rounds):
        running = list(task.agents.filter(status=Agent.Status.RUNNING).values_list("pk", flat=True))
        if not running:
            return
        for pk in running:
            factories.run_step(pk)


def _main_passes(task: TaskSpec) -> bool:
    repo = task.repo.path
    with worktrees.detached(repo, worktrees.git(repo, "rev-parse", "main").strip(), "main-check") as checkout:
        return sandbox.run(checkout, "python -m pytest -q").exit_code == 0


def test_a_planner_spawns_a_worker_per_defect_integrates_their_work_and_its_submission_lands(demo):
    task = _planner_task(demo)
    (pat,) = services.launch_task(task)
    assert pat.role == "planner" and pat.name == "Pat" and pat.parent is None
    _drive(task)

    pat.refresh_from_db()
    workers = list(pat.children.order_by("name"))
    assert len(workers) == 3
    assert {w.subtask["verify_command"] for w in workers} == {
        f"python -m pytest -q {path}" for path in demo_planner.DEFECTS
    }
    for worker in workers:  # each fixed its own defect on a branch made from the planner's commit, and handed off
        assert worker.role == "worker" and worker.base_commit and worker.branch != pat.branch
        assert worker.status == Agent.Status.ACCEPTED, worker.status_reason
        assert f"merged into {pat.branch}" in worker.status_reason
        assert worker.handoff.startswith("Changed: ") and "Unsure:" in worker.handoff
        assert len(worker.files_edited) == 1
        verdict = Verdict.objects.get(agent=worker, status=Verdict.Status.APPROVED)
        assert verdict.evidence["verify"]["command"].endswith(worker.subtask["verify_command"].split()[-1])
    assert sorted(f for w in workers for f in w.files_edited) == ["money.py", "names.py", "stats.py"]
    # budgets carved from the planner's: together they never exceed it
    assert sum(w.allotted_tokens for w in workers) < pat.budget_tokens
    # the planner waited (paused, no thread held), read every handoff, and submitted its integrated branch
    calls = [e.payload["tool"] for e in Event.objects.filter(agent=pat, kind=Event.Kind.TOOL_CALL).order_by("seq")]
    assert calls.count("spawn_worker") == 3 and "wait_for" in calls and calls.count("read_handoff") == 3
    assert calls[-1] == "submit"
    assert pat.status == Agent.Status.ACCEPTED, pat.status_reason
    assert "merged into main" in pat.status_reason and "Changed: integrated" in pat.handoff
    pat_verdict = Verdict.objects.get(agent=pat, status=Verdict.Status.APPROVED)
    assert pat_verdict.verification_passed and pat_verdict.evidence["verify"]["command"] == "python -m pytest -q"
    assert _main_passes(task)


def _spawn(agent: Agent, **args) -> str:
    call = {"name": "Ada", "profile": "sim-fixer", "subtask": "fix stats", "acceptance": ["it passes"]}
    call.update(verify_command="python -m pytest -q tests/test_stats.py", **args)
    text, *_ = tools.carry_out(agent, ToolCall("c1", "spawn_worker", call), guards.ToolState(agent))
    return text


def test_a_spawn_beyond_the_planners_budget_workers_or_depth_is_refused_with_a_clear_error(demo):
    task = _planner_task(demo, max_workers=2, max_depth=1)
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    asked = _spawn(pat, tokens=pat.budget_tokens + 1)
    assert asked.startswith("REFUSED: spawn_worker: you asked for 400001 tokens but have only 400000 left to give")
    assert _spawn(pat, profile="sim-diligent").startswith("REFUSED: spawn_worker: profile 'sim-diligent' is not in")
    assert _spawn(pat, name="Sub", role="planner").startswith("REFUSED: spawn_worker: the task's maximum depth is 1")
    assert _spawn(pat, tokens=1000).startswith("spawned Ada")
    assert "a worker at depth 2 is not allowed" in _spawn_from(Agent.objects.get(name="Ada", task=task))
    # a name that differs only in case would share Ada's (or the planner's own) branch and worktree
    assert _spawn(pat, name="ada").startswith("REFUSED: spawn_worker: an agent named Ada exists in this task")
    assert _spawn(pat, name="pat").startswith("REFUSED: spawn_worker: an agent named Pat exists in this task")
    assert _spawn(pat, name="Grace").startswith("spawned Grace")
    assert _spawn(pat, name="Linus").startswith("REFUSED: spawn_worker: the task's limit of 2 spawned agents")
    assert pat.children.count() == 2 and Agent.objects.get(name="Ada", task=task).allotted_tokens == 1000


def _spawn_from(worker: Agent) -> str:
    worker.role = "planner"  # a worker is not a planner: as if it were one, depth still refuses
    return _spawn(worker, name="Deep")


def test_a_worker_cannot_use_planner_tools_and_never_outspends_its_planner(demo):
    task = _planner_task(demo)
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    assert _spawn(pat, tokens=5000).startswith("spawned Ada")
    ada = Agent.objects.get(task=task, name="Ada")
    refused, *_ = tools.carry_out(ada, ToolCall("c2", "wait_for", {"names": ["Pat"]}), guards.ToolState(ada))
    assert refused == "REFUSED: wait_for is a planner's tool; you are a worker"
    assert ada.budget_used_up() == ""
    Agent.objects.filter(pk=ada.pk).update(tokens_in=5000)
    assert Agent.objects.get(pk=ada.pk).budget_used_up() == "tokens budget used up"
    # a person granted the worker more, but the planner's whole tree used the planner's tokens: it stops there
    Agent.objects.filter(pk=ada.pk).update(extra_tokens=10**7, tokens_in=pat.budget_tokens)
    assert Agent.objects.get(pk=ada.pk).budget_used_up() == "the planner Pat's tree used its tokens budget"


def test_a_person_pauses_messages_and_stops_a_whole_subtree(demo, alice):
    task = _planner_task(demo)
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    _spawn(pat)
    _spawn(pat, name="Grace")
    assert set(task.agents.values_list("status", flat=True)) == {"running"}
    assert planner.act_on_subtree(pat, "message", "alice", "Keep diffs small.", author=alice) == 3
    assert planner.act_on_subtree(pat, "pause", "alice") == 3
    assert set(task.agents.values_list("status", flat=True)) == {"paused"}
    assert planner.act_on_subtree(pat, "stop", "alice") == 3
    assert set(task.agents.values_list("status", flat=True)) == {"stopped"}


def test_a_planner_waiting_for_its_workers_waits_for_no_person_and_wakes_when_they_settle(demo):
    from agents import fleet

    task = _planner_task(demo)
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    _spawn(pat)
    ada = Agent.objects.get(task=task, name="Ada")
    services.set_status(pat.pk, Agent.Status.PAUSED, f"{Agent.WAIT_PAUSE}Ada")
    pat.refresh_from_db()
    assert pat.waiting_for == "workers" and not pat.needs_attention
    assert fleet.attention_queue(task.agents.all()) == ([], 0)
    services.stop(ada, "alice")  # Ada settles: Pat resumes, told how she stands
    pat.refresh_from_db()
    assert pat.status == Agent.Status.RUNNING and pat.status_reason == "its workers settled"
    assert pat.messages.get().text == "The workers you waited for have settled: Ada: stopped (stopped by alice)."


def test_a_sub_planner_spawns_within_the_depth_limit_and_its_workers_merge_into_its_branch(demo):
    task = _planner_task(demo, max_depth=2, workers=["sim-fixer"])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    assert _spawn(pat, name="Sub", profile="sim-planner", role="planner").startswith("spawned Sub (planner")
    sub = Agent.objects.get(task=task, name="Sub")
    assert "spawn_worker" in {t["function"]["name"] for t in tools.offered(sub)}
    assert _spawn(sub, name="Deep").startswith("spawned Deep")
    deep = Agent.objects.select_related("parent").get(task=task, name="Deep")
    assert planner.depth(deep) == 2 and deep.merge_target == sub.branch
    assert deep.allotted_tokens < sub.allotted_tokens  # carved from the sub-planner's, not the task's
    assert "spawn_worker" not in {t["function"]["name"] for t in tools.offered(deep)}


def _card(html: str, agent: Agent) -> str:
    return html.split(f'id="agent-{agent.pk}-card"', 1)[1].split("</article>", 1)[0]


def test_the_task_pages_cards_name_the_planner_and_who_spawned_each_worker(demo, alice_client):
    task = _planner_task(demo)
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    _spawn(pat)
    ada = Agent.objects.get(task=task, name="Ada")
    page = alice_client.get(f"/tasks/{task.pk}/").content.decode()
    frame = events.overview_frame(task.pk, {pat.pk, ada.pk})  # what an open page gets live
    for html in (page, frame):
        assert "role-planner" in _card(html, pat) and "spawned by" not in _card(html, pat)
        assert "spawned by Pat" in _card(html, ada) and "role-planner" not in _card(html, ada)


def test_with_depth_to_spare_the_simulated_planner_gives_part_of_a_large_defect_set_to_a_sub_planner(demo):
    task = _planner_task(demo, max_depth=2)
    (pat,) = services.launch_task(task)
    _drive(task, rounds=160)

    pat.refresh_from_db()
    ada, sub = pat.children.order_by("name")
    assert (ada.name, ada.role, sub.name, sub.role) == ("Ada", "worker", "Sub", "planner")
    deep = list(sub.children.order_by("name"))
    assert [(w.name, w.role) for w in deep] == [("Grace", "worker"), ("Linus", "worker")]
    assert sorted(f for w in [ada, *deep] for f in w.files_edited) == ["money.py", "names.py", "stats.py"]
    for worker in deep:  # the sub-planner's workers merged into its branch, and its branch into Pat's
        assert worker.status == Agent.Status.ACCEPTED and f"merged into {sub.branch}" in worker.status_reason
    assert sub.status == Agent.Status.ACCEPTED and f"merged into {pat.branch}" in sub.status_reason
    assert pat.status == Agent.Status.ACCEPTED, pat.status_reason
    assert _main_passes(task)
