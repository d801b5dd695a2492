"""What the task form and an approved run's page help write, through the JSON API: the roster generator and preview,
and "Save as skill" (a model's draft from an approved run, which a person publishes with the run as provenance)."""

from __future__ import annotations

from agents import skill_format
from agents.models import Agent, Skill
from judges import services as judging
from judges.models import Verdict
from tests.api_client import Api, scoped_token
from tests.factories import launch_and_run


def test_the_roster_generator_names_agents_in_the_lists_order_and_the_preview_checks_lines(client, alice, victor, demo):
    api = Api(client, scoped_token("alice", "operate"))
    rows = [{"count": 2, "model": "sim-diligent"}, {"count": 1, "model": "sim-lazy"}]
    made = api.post("/api/roster/generate", {"rows": rows, "names": ["Ada", "Grace"]})
    assert made.status_code == 200, made.json()
    assert made.json()["agents"] == [
        {"name": "Ada", "model": "sim-diligent"},
        {"name": "Grace", "model": "sim-diligent"},
        {"name": "Ada2", "model": "sim-lazy"},
    ]
    assert made.json()["lines"] == "Ada = sim-diligent\nGrace = sim-diligent\nAda2 = sim-lazy"
    assert made.json()["preview"]["total"] == 3 and made.json()["preview"]["errors"] == []

    unknown = api.post("/api/roster/generate", {"rows": [{"count": 1, "model": "gpt-9"}]})
    assert unknown.status_code == 400 and unknown.json()["field"] == "rows" and "gpt-9" in unknown.json()["error"]
    spaced = api.post("/api/roster/generate", {"rows": rows, "names": ["Ada Lovelace"]})
    assert spaced.status_code == 400 and spaced.json()["field"] == "names[0]"

    preview = api.post("/api/roster/preview", {"lines": "Ada = sim-diligent\nada = sim-lazy"}).json()
    assert preview["total"] == 2 and preview["errors"] and "ada" in " ".join(preview["errors"]).lower()

    viewer = Api(client, scoped_token("victor", "read"))
    assert viewer.post("/api/roster/preview", {"lines": "Ada = sim-diligent"}).status_code == 403


def test_an_approved_run_is_drafted_as_a_skill_and_published_with_its_provenance(client, alice, bob, demo):
    _, task = demo
    ada, linus = launch_and_run(task, [("Ada", "sim-diligent"), ("Linus", "sim-lazy")])
    judging.review_verdict(Verdict.objects.get(agent=ada), bob, "approve", "Clear cause, minimal fix.")
    assert Agent.objects.get(pk=ada.pk).status == Agent.Status.ACCEPTED
    api = Api(client, scoped_token("alice", "operate"))

    drafted = api.post(f"/api/agents/{ada.pk}/skill-draft")
    assert drafted.status_code == 200, drafted.json()
    text, sources = drafted.json()["skill_md"], drafted.json()["sources"]
    parsed = skill_format.parse(text)
    assert sources == [ada.pk] and "Clear cause, minimal fix." in parsed.body

    published = api.post(
        "/api/skills", {"skill_md": text.replace("Learned from", "Edited. Learned from"), "sources": sources}
    )
    assert published.status_code == 201, published.json()
    version = Skill.objects.get(name=parsed.name).current
    assert version.sources == [ada.pk] and "Edited." in version.body

    unapproved = api.post("/api/skills", {"skill_md": text.replace(parsed.name, "other-skill"), "sources": [linus.pk]})
    assert unapproved.status_code == 400 and unapproved.json()["field"] == "sources"
    assert not Skill.objects.filter(name="other-skill").exists()

    refused = api.post(f"/api/agents/{linus.pk}/skill-draft")
    assert refused.status_code == 409 and "only an approved run is saved as a skill" in refused.json()["error"]
    reviewer = Api(client, scoped_token("bob", "review"))
    assert reviewer.post(f"/api/agents/{ada.pk}/skill-draft").status_code == 403
