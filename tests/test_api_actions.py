"""What the pages do, through the API: a task edited, deleted and its panel set; broadcast, stop and bulk actions;
one agent paused, resumed, stopped and cleaned up; taste guides; a verdict's opinions, audit, diff and patch; and
every list a page at a time."""

from __future__ import annotations

from agents.models import Agent, Event, Message, TaskSpec, TasteGuide
from judges.models import Verdict
from tests.api_client import Api, issue_token, launch_via_api, small_task
from tests.factories import run_until_idle


def test_an_operator_edits_a_task_field_by_field_and_deletes_one_not_yet_launched(api, demo):
    created = small_task(api, [("Ada", "sim-diligent")])
    url = f"/api/tasks/{created['id']}"

    edited = api.patch(url, {"title": "Fix mean() properly", "acceptance": ["mean([1]) == 1"], "budget": {"usd": 3}})
    assert edited.status_code == 200, edited.json()
    task = TaskSpec.objects.get(pk=created["id"])
    assert (task.title, task.acceptance, str(task.budget_usd)) == ("Fix mean() properly", ["mean([1]) == 1"], "3.00")
    assert task.goal == "mean([2, 4, 6]) should be 4."  # not sent: kept
    assert task.budget_minutes == 20 and task.roster == [{"name": "Ada", "profile": "sim-diligent"}]
    assert [g.name for g in task.taste_guides.all()] == ["House style"]

    for bad, field in (
        ({"title": ""}, "title"),
        ({"agents": [{"name": "Ada", "model": "no-such-profile"}]}, "agents"),
        ({"owner": "mallory"}, "owner"),
        ({"budget": {"minutes": 0}}, "budget.minutes"),
    ):
        refused = api.patch(url, bad)
        assert refused.status_code == 400, bad
        assert refused.json()["field"] == field
        assert "mallory" not in refused.json()["error"]  # the unknown field is named, its value never echoed
    assert TaskSpec.objects.get(pk=created["id"]).title == "Fix mean() properly"

    deleted = api.delete(url)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": created["id"], "title": "Fix mean() properly", "deleted": True}
    assert not TaskSpec.objects.filter(pk=created["id"]).exists()
    assert api.get(url).status_code == 404


def test_a_running_task_is_not_deleted_and_its_agents_are_driven_one_by_one_and_all_at_once(api, demo):
    task, agents = launch_via_api(api, [("Ada", "sim-diligent"), ("Linus", "sim-lazy"), ("Grace", "sim-diligent")])
    refused = api.delete(f"/api/tasks/{task.pk}")
    assert refused.status_code == 409 and "Stop its agents" in refused.json()["error"]
    assert TaskSpec.objects.filter(pk=task.pk).exists()

    ada, linus, grace = agents["Ada"], agents["Linus"], agents["Grace"]
    paused = api.post(f"/api/agents/{ada.pk}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert "paused by alice" in paused.json()["status_reason"]
    not_at_budget = api.post(f"/api/agents/{ada.pk}/grant")
    assert not_at_budget.status_code == 409
    assert Agent.objects.get(pk=ada.pk).extra_minutes == 0
    resumed = api.post(f"/api/agents/{ada.pk}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"

    sent = api.post(f"/api/tasks/{task.pk}/broadcast", {"text": "Keep the diff small."})
    assert sent.json() == {"task": task.pk, "sent": 3}
    assert Message.objects.filter(agent__task=task, text="Keep the diff small.").count() == 3

    stopped = api.post(f"/api/agents/{grace.pk}/stop")
    assert stopped.json()["status"] == "stopped"
    cleaned = api.post(f"/api/agents/{grace.pk}/cleanup", {"delete_branch": False})
    assert cleaned.status_code == 200, cleaned.json()
    assert cleaned.json()["note"].startswith("Cleaned up: ")
    assert Event.objects.filter(agent=grace, kind="cleanup").exists()

    not_ours = api.post(f"/api/tasks/{task.pk}/act", {"action": "pause", "ids": [ada.pk, 10**12]})
    assert not_ours.status_code == 400 and not_ours.json()["field"] == "ids"
    assert Agent.objects.get(pk=ada.pk).status == "running"
    acted = api.post(f"/api/tasks/{task.pk}/act", {"action": "stop", "all": True})
    assert acted.status_code == 200
    assert acted.json()["done"] == 2
    assert acted.json()["skipped"] == [{"reason": "were already finished", "count": 1}] or acted.json()["skipped"] == [
        {"reason": "was already finished", "count": 1}
    ]
    assert set(Agent.objects.filter(task=task).values_list("status", flat=True)) == {"stopped"}
    assert api.post(f"/api/tasks/{task.pk}/stop").json() == {"task": task.pk, "stopped": 0}
    assert api.post(f"/api/tasks/{task.pk}/broadcast", {"text": "anyone?"}).status_code == 409
    assert linus.pk


def test_only_an_admin_sets_the_judge_panel_and_a_same_family_panel_is_refused(api, admin_api, demo):
    _, task = demo
    url = f"/api/tasks/{task.pk}/panel"
    panel = api.get(url).json()
    assert panel["rule"] == "unanimous" and panel["auto_approve"] is False

    by_operator = api.patch(url, {"auto_approve": True})
    assert by_operator.status_code == 403 and "only admin may choose the judge panel" in by_operator.json()["error"]

    same_family = admin_api.patch(url, {"judges": ["sim-lazy"]})
    assert same_family.status_code == 400 and same_family.json()["field"] == "judges"
    assert "another model family" in same_family.json()["error"]
    unknown = admin_api.patch(url, {"judges": ["ghost-judge"]})
    assert unknown.status_code == 400 and "ghost-judge" in unknown.json()["error"]

    changed = admin_api.patch(url, {"judges": ["judge-strict"], "rule": "majority", "auto_approve": True})
    assert changed.status_code == 200, changed.json()
    assert changed.json() == {"judges": ["judge-strict"], "rule": "majority", "auto_approve": True}
    task.refresh_from_db()
    assert (task.judge_rule, task.auto_approve) == ("majority", True)
    assert [p.name for p in task.judge_profiles.all()] == ["judge-strict"]


def test_taste_guides_are_written_listed_changed_and_deleted(api, demo):
    made = api.post("/api/taste", {"name": "Tests first", "rules": ["Write the failing test first."]})
    assert made.status_code == 201, made.json()
    guide = made.json()
    assert guide["rules"] == ["Write the failing test first."]
    listed = api.get("/api/taste", {"per_page": 1})
    assert listed.json()["total"] == 2 and listed.json()["pages"] == 2 and len(listed.json()["taste_guides"]) == 1

    two_lines = api.patch(f"/api/taste/{guide['id']}", {"rules": ["one\ntwo"]})
    assert two_lines.status_code == 400 and two_lines.json()["field"] == "rules[0]"
    changed = api.patch(f"/api/taste/{guide['id']}", {"rules": ["Write the failing test first.", "Keep it small."]})
    assert changed.json()["rules"] == ["Write the failing test first.", "Keep it small."]
    assert TasteGuide.objects.get(pk=guide["id"]).rules == changed.json()["rules"]

    assert api.delete(f"/api/taste/{guide['id']}").json()["deleted"] is True
    assert not TasteGuide.objects.filter(pk=guide["id"]).exists()


def test_a_verdicts_opinions_audit_diff_and_patch(client, api, bob, demo):
    _, agents = launch_via_api(api, [("Ada", "sim-diligent")])
    run_until_idle(agents.values())
    verdict = Verdict.objects.get(agent=agents["Ada"])
    reviewer = Api(client, issue_token("bob"))
    assert reviewer.post(f"/api/verdicts/{verdict.pk}/approve", {"comment": "neat"}).status_code == 200

    detail = api.get(f"/api/verdicts/{verdict.pk}").json()
    assert detail["status"] == "approved" and detail["opinions"]
    assert {o["judge"] for o in detail["opinions"]} == set(verdict.judgements.values_list("judge", flat=True))
    assert [(r["reviewer"], r["decision"], r["comment"]) for r in detail["reviews"]] == [("bob", "approve", "neat")]
    audit = api.get(f"/api/verdicts/{verdict.pk}/audit").json()
    assert audit["total"] == 1 and audit["reviews"][0]["outcome"].startswith("merged ")
    opinions = api.get(f"/api/verdicts/{verdict.pk}/opinions", {"per_page": 1})
    assert opinions.json()["per_page"] == 1 and opinions.json()["total"] == len(detail["opinions"])

    diff = api.get(f"/api/verdicts/{verdict.pk}/diff").json()
    files = {f["path"]: f for f in diff["files"]}
    assert "mathutil.py" in files and files["mathutil.py"]["added"] >= 1
    assert files["mathutil.py"]["text"].startswith("diff --git a/mathutil.py b/mathutil.py")
    last = api.get(f"/api/verdicts/{verdict.pk}/diff", {"per_page": 1, "page": 99}).json()  # a page past the end
    assert (last["page"], last["pages"], last["total"], len(last["files"])) == (len(files), len(files), len(files), 1)

    patch = api.post(f"/api/verdicts/{verdict.pk}/patch")
    assert patch.status_code == 200, patch.json()
    assert patch.json()["filename"] == f"swarm-{agents['Ada'].task_id}-ada.patch"
    assert "mathutil.py" in patch.json()["patch"] and patch.json()["patch"].startswith("From ")
    assert Event.objects.filter(agent=agents["Ada"], kind="exported", payload__by="alice").exists()


def test_every_list_comes_a_page_at_a_time(api, demo):
    for i in range(3):
        small_task(api, [("Ada", "sim-diligent")], title=f"Task {i}")
    first = api.get("/api/tasks", {"per_page": 2}).json()
    assert (first["page"], first["pages"], first["total"], first["per_page"]) == (1, 2, 4, 2)
    assert [t["title"] for t in first["tasks"]] == ["Task 2", "Task 1"]
    last = api.get("/api/tasks", {"per_page": 2, "page": 99}).json()  # past the end: the last page
    assert last["page"] == 2 and len(last["tasks"]) == 2
    for url in ("/api/tasks", "/api/repos", "/api/models", "/api/taste", "/api/tokens"):
        for bad in ({"per_page": 0}, {"per_page": 10_000}, {"page": "two"}):
            refused = api.get(url, bad)
            assert refused.status_code == 400, (url, bad)
            assert refused.json()["field"] in bad
