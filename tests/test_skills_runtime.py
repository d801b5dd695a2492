"""Progressive disclosure of a task's skills to an agent on a real model server: the prompt names the pinned skills
and their descriptions only, `load_skill` answers the pinned version's body (an event, counted once), only the
task's skills load, `read_skill_file` reads a reference, and a skill's script runs in the sandbox, read-only there."""

from __future__ import annotations

import json
from pathlib import Path

from agents import services, skill_format, skill_library
from agents.models import Skill, SkillUse
from agents.skill_library import Draft
from tests.factories import run_until_idle
from tests.openai_server import reply
from tests.real_models import task_on


def _results(agent) -> list[dict]:
    return [e.payload for e in agent.events.filter(kind="tool_call").order_by("seq")]


def test_an_agent_sees_its_tasks_skills_loads_the_pinned_version_and_runs_a_script_in_the_sandbox(
    demo, alice, mallory, server, model_key
):
    team, demo_task = demo
    reproduce = Skill.objects.in_team(team).get(name="reproduce-first")
    skill_library.create_skill(
        alice, team, Draft(skill_format.compose("not-this-task", "Another task's skill.", "Secret steps."), {})
    )
    task = task_on(demo, server, "Hopper", budget_tokens=500_000)
    task.skills.set([reproduce])
    (agent,) = services.launch_task(task)
    # edited after the launch: the agent still gets the version its task pinned
    skill_library.new_version(
        alice, reproduce, Draft(skill_format.compose("reproduce-first", "Changed.", "Version two steps."), {}), True
    )
    server.script(
        reply("", ("load_skill", {"name": "not-this-task"})),
        reply("", ("load_skill", {"name": "Reproduce-First"})),
        reply("", ("load_skill", {"name": "reproduce-first"})),
        reply("", ("read_skill_file", {"name": "reproduce-first", "path": "scripts/first_failure.sh"})),
        reply("", ("read_skill_file", {"name": "reproduce-first", "path": "../../etc/passwd"})),
        reply(
            "",
            (
                "run_command",
                {"command": "sh /skills/reproduce-first/scripts/first_failure.sh; touch /skills/x || echo READ-ONLY"},
            ),
        ),
        reply("", ("ask_person", {"question": "Done looking; shall I fix it?"})),
    )
    run_until_idle([agent], max_steps=10)

    prompt = server.requests[0].body["messages"][0]["content"]
    assert "- reproduce-first: Run the failing test before changing code." in prompt
    assert "Write down the cause" not in prompt and "not-this-task" not in prompt and "small-diff" not in prompt

    other, case, loaded, script, escape, ran = _results(agent)[:6]
    assert (
        other["refused"]
        and "no skill named 'not-this-task' for this task; its skills: reproduce-first" in (other["result"])
    )
    assert case["ok"] and "# Skill: reproduce-first (version 1)" in case["result"]
    assert "Write down the cause in one sentence" in loaded["result"] and "Version two" not in loaded["result"]
    assert "- scripts/first_failure.sh" in loaded["result"]
    assert "pytest -x -q" in script["result"]
    assert escape["refused"] and "has no file" in escape["result"]
    assert "1 failed" in ran["result"] and "test_mean" in ran["result"], ran["result"]
    assert "READ-ONLY" in ran["result"]
    assert not Path("/skills").exists()  # it ran in the sandbox, never on the host

    loads = list(agent.events.filter(kind="skill_loaded"))
    assert [e.payload for e in loads] == [
        {"skill": "reproduce-first", "version": 1, "files": ["scripts/first_failure.sh"]}
    ] * 2  # both loads (by any letter case) are events; the run is one use
    assert SkillUse.objects.filter(agent=agent).count() == 1
    assert json.dumps([e.payload for e in agent.events.all()]).count("Secret steps") == 0


def test_stats_count_the_runs_that_loaded_a_skill_per_family(demo, alice, server, model_key):
    team, _ = demo
    small = Skill.objects.in_team(team).get(name="small-diff")
    task = task_on(demo, server, "Hopper")
    task.skills.set([small])
    (agent,) = services.launch_task(task)
    server.script(reply("", ("load_skill", {"name": "small-diff"})), reply("", ("load_skill", {"name": "small-diff"})))
    run_until_idle([agent], max_steps=2)
    loads = agent.events.filter(kind="skill_loaded")
    assert [e.payload["skill"] for e in loads] == ["small-diff", "small-diff"]  # loading is an event, every time
    assert skill_library.usage_by_family(small) == [{"family": "test", "runs": 1, "approved": 0, "rate": 0.0}]
    assert skill_library.use_counts(Skill.objects.in_team(team)) == {small.pk: 1}


def test_a_skills_allowed_tools_are_the_only_ones_an_agent_may_call_until_it_finishes_the_skill(
    demo, alice, server, model_key, client
):
    team, _ = demo
    look = skill_library.create_skill(
        alice,
        team,
        Draft(
            "---\nname: look-first\ndescription: Look before acting.\nallowed-tools: read_file search\n---\n\nSearch.\n",
            {},
        ),
    ).skill
    task = task_on(demo, server, "Hopper", budget_tokens=500_000)
    task.skills.set([look, Skill.objects.in_team(team).get(name="reproduce-first")])
    (agent,) = services.launch_task(task)
    server.script(
        reply("", ("load_skill", {"name": "look-first"})),
        reply("", ("run_command", {"command": "echo RAN-ONE"})),
        reply("", ("submit", {"summary": "done"})),
        reply("", ("search", {"pattern": "def mean"})),
        reply("", ("finish_skill", {})),
        reply("", ("run_command", {"command": "echo RAN-TWO"})),
        reply("", ("load_skill", {"name": "look-first"})),
        reply("", ("load_skill", {"name": "reproduce-first"})),  # another skill replaces it
        reply("", ("run_command", {"command": "echo RAN-THREE"})),
        reply("", ("finish_skill", {})),
        reply("", ("finish_skill", {})),
        reply("", ("ask_person", {"question": "Shall I fix it now?"})),
    )
    run_until_idle([agent], max_steps=30)

    calls = _results(agent)
    assert [c["tool"] for c in calls][:11] == [
        "load_skill",
        "run_command",
        "submit",
        "search",
        "finish_skill",
        "run_command",
        "load_skill",
        "load_skill",
        "run_command",
        "finish_skill",
        "finish_skill",
    ]
    loaded, one, submit, search, finish, two, _, other, three, finish_plain, nothing = calls[:11]
    assert "only its allowed tools run: read_file, search" in loaded["result"]
    for refused, tool in ((one, "run_command"), (submit, "submit")):
        assert refused["refused"], refused
        assert (
            f"REFUSED: {tool} is not among the tools the skill look-first allows while you follow it: read_file,"
            in (refused["result"])
        )
        assert "call finish_skill when you are done with the skill" in refused["result"]
    assert "RAN-ONE" not in one["result"] and one.get("command") is None  # the command never ran
    assert search["ok"] and "def mean" in search["result"]
    assert finish["ok"] and "finished the skill look-first" in finish["result"]
    assert two["ok"] and "RAN-TWO" in two["result"]
    assert other["ok"] and "allowed tools" not in other["result"]
    assert three["ok"] and "RAN-THREE" in three["result"]
    assert finish_plain["ok"]
    assert nothing["refused"] and "you follow no skill now" in nothing["result"]

    agent.refresh_from_db()
    assert agent.status == "paused" and agent.submitted_commit == "" and agent.active_skill == {}
    prompts = [r.body["messages"][0]["content"] for r in server.requests]
    assert "You follow the skill look-first: until you call finish_skill" in prompts[1]
    assert "You follow the skill" not in prompts[5]
    client.force_login(alice)
    transcript = client.get(agent.get_absolute_url()).content.decode()
    assert "submit is not among the tools the skill look-first allows while you follow it" in transcript
