""" "Save as skill" on an approved run: a model drafts a SKILL.md from what the run read first, how it verified, what
the judges praised and what the reviewer said; the person edits and publishes it with the run as provenance. With
the simulator (a deterministic draft) and through the real model path (the local OpenAI-protocol server)."""

from __future__ import annotations

import json

import pytest

from agents import services, skill_format
from agents.errors import ServiceError
from agents.models import Agent, Skill
from judges import services as judging
from judges import skill_draft
from judges.models import Verdict
from tests.factories import launch_and_run
from tests.openai_server import reply
from tests.real_models import profile_for


@pytest.fixture
def approved_ada(demo, bob):
    _, task = demo
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    judging.review_verdict(Verdict.objects.get(agent=ada), bob, "approve", "Clear cause, minimal fix <b>nice</b>.")
    ada.refresh_from_db()
    assert ada.status == Agent.Status.ACCEPTED
    return ada


def test_the_simulator_drafts_a_valid_skill_from_the_run_and_the_person_publishes_it(approved_ada, alice_client):
    page = alice_client.get(approved_ada.get_absolute_url())
    assert b'id="save-as-skill"' in page.content
    drafted = alice_client.post(f"/reviews/agents/{approved_ada.pk}/save-as-skill/")
    assert drafted.status_code == 200
    text = drafted.context["text"]
    parsed = skill_format.parse(text)
    assert parsed.name == "fix-mean-in-mathutil-ada-sim-diligent-way"
    assert "`mathutil.py`" in parsed.body  # what it read first
    assert "python -m pytest -q" in parsed.body  # how it verified
    assert "Clear cause, minimal fix <b>nice</b>." in parsed.body  # the reviewer's words, as data
    assert "## What the judges praised\n- " in parsed.body and "(none recorded)" not in parsed.body.split("praised")[1]
    assert b"&lt;b&gt;nice&lt;/b&gt;" in drafted.content  # escaped on the page

    edited = text.replace("Learned from", "Edited by a person. Learned from")
    saved = alice_client.post("/skills/new/", {"skill_md": edited, "sources": [str(approved_ada.pk), "999999"]})
    assert saved.status_code == 302
    version = Skill.objects.get(name="fix-mean-in-mathutil-ada-sim-diligent-way").current
    assert version.sources == [approved_ada.pk]  # provenance: only the team's approved runs
    assert "Edited by a person." in version.body
    detail = alice_client.get(version.skill.get_absolute_url())
    assert f'href="/agents/{approved_ada.pk}/"'.encode() in detail.content


def test_the_draft_goes_through_the_real_model_path(approved_ada, alice, server, model_key):
    task = approved_ada.task
    task.judge_profiles.set([profile_for(server, team=task.team)])
    fenced = "```markdown\n" + skill_format.compose("from-a-model", "Drafted by a model.", "Do it well.") + "```"
    server.script(reply(fenced))
    text = skill_draft.draft(alice, approved_ada)
    assert skill_format.parse(text).name == "from-a-model"  # the fence is taken off
    (request,) = server.requests
    system, user = request.body["messages"]
    assert system["content"].startswith("[Swarm skill draft]")
    facts = json.loads(user["content"])
    assert facts["reviewer_said"] == "Clear cause, minimal fix <b>nice</b>."
    assert facts["read_first"][0] == "mathutil.py" and facts["judges_praised"]


def test_only_an_approved_run_is_saved_as_a_skill(demo, alice):
    _, task = demo
    (linus,) = launch_and_run(task, [("Linus", "sim-lazy")])
    with pytest.raises(ServiceError, match="only an approved run is saved as a skill"):
        skill_draft.draft(alice, linus)


def test_what_it_read_first_is_in_the_order_the_run_read_it(approved_ada):
    approved_ada.events.filter(kind="tool_call", payload__tool="read_file").delete()
    for path, ok in [("b.py", True), ("missing.py", False), ("./a.py", True), ("b.py", True)]:
        args = {"path": path}
        services.record_event(approved_ada.pk, "tool_call", {"tool": "read_file", "args": args, "ok": ok})
    approved_ada.files_read = ["a.py", "b.py"]  # the runtime stores the set sorted
    approved_ada.save(update_fields=["files_read"])
    assert skill_draft.facts(approved_ada)["read_first"] == ["b.py", "a.py"]
