"""Versioned taste: saving changed rules makes a version, a launched task keeps the version it pinned (in its agents'
prompt and its judges' evidence), the versions page shows what changed, every rule is scored by the judges, and the
task and team pages show which rules fail most."""

from __future__ import annotations

from agents import prompts, services, task_setup
from agents.forms import TasteGuideForm
from agents.models import TasteGuide
from judges.models import Judgement, Verdict
from tests.factories import launch_and_run

RULES = ["Fix causes, not symptoms.", "Never weaken or delete a test to make it pass.", "No print() debugging left in code.", "Keep diffs small."]  # fmt: skip


def _save(by, guide, rules):
    form = TasteGuideForm({"name": guide.name, "rules_text": "\n".join(rules)}, instance=guide)
    return task_setup.save_taste_guide(by, form)


def test_an_edit_makes_a_version_and_a_launched_task_keeps_the_one_it_pinned(demo, alice, alice_client):
    team, task = demo
    guide = TasteGuide.objects.in_team(team).get(name="House style")
    assert [v.number for v in guide.versions.all()] == [1]
    (agent,) = launch_and_run(task, [("Ada", "sim-diligent")])
    _save(alice, guide, [*RULES[:3], "Keep diffs under 50 lines."])
    _save(alice, guide, [*RULES[:3], "Keep diffs under 50 lines."])  # unchanged: no version
    assert [v.number for v in guide.versions.order_by("number")] == [1, 2]

    launched = agent.task  # the copy launch_and_run made of the demo task, launched before the edit
    assert "- Keep diffs small." in prompts.system_prompt(agent)
    assert "Keep diffs under 50 lines" not in prompts.system_prompt(agent)
    verdict = Verdict.objects.get(agent=agent)
    assert verdict.evidence["taste"] == RULES
    scored = [c["item"] for j in verdict.judgements.all() for c in j.checklist if c["kind"] == "taste"]
    assert sorted(set(scored)) == sorted(RULES)  # every judge scored every pinned rule

    page = alice_client.get(f"/taste/{guide.pk}/versions/").content.decode()
    assert '<li class="removed"><span class="mark">−</span> Keep diffs small.</li>' in page
    assert '<li class="added"><span class="mark">+</span> Keep diffs under 50 lines.</li>' in page
    detail = alice_client.get(launched.get_absolute_url()).content.decode()
    assert "House style v1</a>" in detail

    fresh = services.launch_task(type(task).objects.get(pk=task.pk))[0].task  # the demo task, launched now
    assert "House style v2" in alice_client.get(fresh.get_absolute_url()).content.decode()


def test_the_task_and_team_pages_show_which_rules_fail_most(demo, alice_client):
    team, task = demo
    (agent,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=agent)

    def item(rule, status):
        return {"kind": "taste", "item": rule, "status": status, "evidence": "quoted"}

    for n, statuses in enumerate([("not_met", "not_met"), ("not_met", "met"), ("met", "met")]):
        Judgement.objects.create(
            verdict=verdict, judge=f"j{n}", model="m", family="f", recommendation="reject",
            checklist=[item("Keep diffs small.", statuses[0]), item("No <b>print()</b> debugging.", statuses[1])],
        )  # fmt: skip
    for url in (agent.task.get_absolute_url(), "/team/"):
        page = alice_client.get(url).content.decode()
        section = page.split('id="failing-rules"')[1].split("</section>")[0]
        assert section.index("Keep diffs small.") < section.index("No &lt;b&gt;print()&lt;/b&gt; debugging.")
        assert "<td>Keep diffs small.</td><td>2</td><td>" in section


def test_the_api_pages_the_rules_that_fail_most_with_the_pages_figures(demo, alice_client, api, mallory_api):
    team, task = demo
    (agent,) = launch_and_run(task, [("Ada", "sim-diligent")])
    verdict = Verdict.objects.get(agent=agent)
    guide = TasteGuide.objects.in_team(team).get(name="House style")
    odd = "No <b>print()</b> debugging."  # no guide has it: a judge scored a rule of its own
    for n, (small, printing) in enumerate([("not_met", "not_met"), ("not_met", "met"), ("met", "unknown")]):
        Judgement.objects.create(
            verdict=verdict, judge=f"j{n}", model="m", family="f", recommendation="reject",
            checklist=[{"kind": "taste", "item": r, "status": s} for r, s in (("Keep diffs small.", small), (odd, printing))],
        )  # fmt: skip
    panel = [c["status"] for j in verdict.judgements.exclude(judge__in=["j0", "j1", "j2"]) for c in j.checklist if c["item"] == "Keep diffs small."]  # fmt: skip
    failed, met, scored = 2 + panel.count("not_met"), 1 + panel.count("met"), 3 + len(panel)  # the panel's scores too
    expected = [
        {"rule": "Keep diffs small.", "failed": failed, "met": met, "scored": scored, "versions": [
            {"guide": guide.pk, "name": "House style", "number": 1}  # the version the task pinned
        ]},
        {"rule": odd, "failed": 1, "met": 1, "scored": 3, "versions": []},
    ]  # fmt: skip
    for url, page_url in (
        (f"/api/tasks/{agent.task_id}/taste/failing", agent.task.get_absolute_url()),
        ("/api/taste/failing", "/team/"),
    ):
        answer = api.get(url)
        assert answer.status_code == 200, answer.json()
        assert answer.json()["rules"] == expected and answer.json()["total"] == 2
        section = alice_client.get(page_url).content.decode().split('id="failing-rules"')[1].split("</section>")[0]
        assert f"<td>Keep diffs small.</td><td>{failed}</td><td>{met}</td><td>{scored}</td>" in section
        assert "<td>No &lt;b&gt;print()&lt;/b&gt; debugging.</td><td>1</td><td>1</td><td>3</td>" in section
        assert f'<a href="/taste/{guide.pk}/versions/">House style v1</a>' in section
        second = api.get(url, {"per_page": 1, "page": 2}).json()
        assert (second["rules"], second["pages"]) == ([expected[1]], 2)
        refused = api.get(url, {"rule": "x"})
        assert refused.status_code == 400 and refused.json()["field"] == "rule"
    assert api.get("/api/taste/failing", {"team": team.name}).json()["team"] == {"id": team.pk, "name": team.name}
    assert mallory_api.get(f"/api/tasks/{agent.task_id}/taste/failing").status_code == 404
    assert api.get("/api/tasks/987654321/taste/failing").status_code == 404
    assert mallory_api.get("/api/taste/failing").json()["rules"] == []  # her own team's: nothing failed there
    refused = mallory_api.get("/api/taste/failing", {"team": team.pk})
    assert refused.status_code == 400 and refused.json()["field"] == "team"


def test_a_judge_that_skips_a_taste_rule_is_asked_again_then_counts_as_an_error(demo, server, model_key):
    import json

    from tests.openai_server import reply
    from tests.real_models import profile_for

    _, task = demo
    task.judge_profiles.set([profile_for(server, team=task.team)])
    partial = {
        "recommendation": "approve",
        "checklist": [{"kind": "taste", "item": r, "status": "met", "evidence": "ok"} for r in RULES[:3]],
        "reasons": ["looks fine"],
    }
    server.script(reply(json.dumps(partial)), reply(json.dumps(partial)))
    (agent,) = launch_and_run(task, [("Ada", "sim-diligent")])
    (judgement,) = Verdict.objects.get(agent=agent).judgements.all()
    assert judgement.recommendation == "error"
    assert "skips taste rules" in judgement.error and "“Keep diffs small.”" in judgement.error
    retry = server.requests[1].body["messages"][-1]["content"]
    assert "skips taste rules" in retry  # the judge was told what it skipped
    assert Verdict.objects.get(agent=agent).recommendation != "approve"
