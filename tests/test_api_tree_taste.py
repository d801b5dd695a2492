"""The planner's tree and the taste versions pages, through the API: the tree as the page draws it, an action on a
whole subtree with the page's role rules, and a taste guide's versions with the diff between two."""

from __future__ import annotations

from agents import demo_planner, planner, services
from agents.models import Agent, TasteGuide
from tests.api_client import Api, issue_token


def _planner_with_two_workers(demo):
    task = demo_planner.seed(demo[0])
    (pat,) = services.launch_task(task)
    pat.refresh_from_db()
    for name in ("Ada", "Grace"):
        planner.spawn(
            pat, planner.Spawn(name=name, profile="sim-fixer", goal=f"{name}: fix stats", budget={"tokens": 1000})
        )
    return task, pat


def test_the_tree_is_read_and_a_whole_subtree_paused_messaged_and_stopped(client, api, bob, mallory_api, demo):
    task, pat = _planner_with_two_workers(demo)
    tree = api.get(f"/api/tasks/{task.pk}/tree")
    assert tree.status_code == 200, tree.json()
    (root,) = tree.json()["roots"]
    assert (root["name"], root["role"], root["descendants"], root["cycle"]) == ("Pat", "planner", 2, 1)
    ada, grace = root["children"]
    assert (ada["name"], ada["role"], ada["parent"], ada["subtask"]["goal"]) == (
        "Ada",
        "worker",
        pat.pk,
        "Ada: fix stats",
    )
    assert ada["budget"]["tokens"] == 1000 and ada["budget"]["allotted"] and ada["children"] == []
    assert grace["status"] == "running" and not root["budget"]["allotted"]

    url = f"/api/agents/{pat.pk}/subtree"
    reviewer = Api(client, issue_token("bob"))
    assert reviewer.get(f"/api/tasks/{task.pk}/tree").status_code == 200  # everyone in the team sees it
    assert reviewer.post(url, {"action": "stop"}).status_code == 403  # a reviewer does not control agents
    assert mallory_api.get(f"/api/tasks/{task.pk}/tree").status_code == 404
    assert mallory_api.post(url, {"action": "stop"}).status_code == 404
    for bad, field in (
        ({"action": "message"}, "text"),
        ({"action": "message", "text": "   "}, "text"),
        ({"action": "dance"}, "action"),
        ({"action": "stop", "force": True}, "force"),
    ):
        refused = api.post(url, bad)
        assert refused.status_code == 400 and refused.json()["field"] == field, (bad, refused.json())
    assert set(task.agents.values_list("status", flat=True)) == {"running"}  # nothing was done

    said = api.post(f"/api/agents/{ada['id']}/subtree", {"action": "message", "text": "Keep diffs small."})
    assert said.json() == {"agent": ada["id"], "action": "message", "reached": 1}
    assert Agent.objects.get(pk=ada["id"]).messages.get().text == "Keep diffs small."
    assert api.post(url, {"action": "pause"}).json()["reached"] == 3
    assert set(task.agents.values_list("status", flat=True)) == {"paused"}
    assert api.post(url, {"action": "stop"}).json()["reached"] == 3
    assert set(task.agents.values_list("status", flat=True)) == {"stopped"}
    again = api.post(url, {"action": "stop"})
    assert again.status_code == 409 and "nothing to stop in Pat's subtree" in again.json()["error"]
    stopped = api.get(f"/api/tasks/{task.pk}/tree").json()["roots"][0]
    assert stopped["status"] == "stopped" and stopped["finished"]


def test_a_taste_guides_versions_are_paged_and_two_are_compared_rule_by_rule(api, mallory_api, demo):
    guide = TasteGuide.objects.get(team=demo[0], name="House style")
    first = list(guide.rules)
    assert api.patch(f"/api/taste/{guide.pk}", {"rules": ["Keep it small.", "Name things well."]}).status_code == 200
    assert api.patch(f"/api/taste/{guide.pk}", {"rules": ["Keep it small.", "Test it."]}).status_code == 200
    numbers = [v.number for v in guide.versions.order_by("-number")]
    assert len(numbers) >= 2

    page = api.get(f"/api/taste/{guide.pk}/versions", {"per_page": 1}).json()
    assert (page["guide"], page["total"], page["pages"], page["per_page"]) == (guide.pk, len(numbers), len(numbers), 1)
    (newest,) = page["versions"]
    assert (newest["number"], newest["rules"]) == (numbers[0], ["Keep it small.", "Test it."])
    assert newest["created"] and newest["created_by"] == "alice"
    second = api.get(f"/api/taste/{guide.pk}/versions", {"per_page": 1, "page": 2}).json()["versions"][0]
    assert second["rules"] == ["Keep it small.", "Name things well."]

    diff = api.get(f"/api/taste/{guide.pk}/diff", {"from": numbers[1], "to": numbers[0]})
    assert diff.status_code == 200, diff.json()
    assert diff.json()["changes"] == [
        {"op": "kept", "rule": "Keep it small."},
        {"op": "removed", "rule": "Name things well."},
        {"op": "added", "rule": "Test it."},
    ]
    from_nothing = api.get(f"/api/taste/{guide.pk}/diff", {"from": 0, "to": numbers[-1]}).json()["changes"]
    assert from_nothing == [{"op": "added", "rule": r} for r in first]

    for query, field in (({"to": 1}, "from"), ({"from": 1, "to": 99}, "to"), ({"from": "x", "to": 1}, "from")):
        refused = api.get(f"/api/taste/{guide.pk}/diff", query)
        assert refused.status_code == 400 and refused.json()["field"] == field, (query, refused.json())
    assert mallory_api.get(f"/api/taste/{guide.pk}/versions").status_code == 404
    assert mallory_api.get(f"/api/taste/{guide.pk}/diff", {"from": 0, "to": 1}).status_code == 404
