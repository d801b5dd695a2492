"""Upgrading a database whose skills are rows (name, description, body): each becomes a skill in the Agent Skills
format at version 1, its name made valid and unique in its team, and launched tasks pin that version; likewise each
taste guide's rules become its version 1."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from agents import skill_format, skill_library, taste
from agents.models import Skill, TaskSpec, TasteGuide

BEFORE = [("agents", "0020_planner_cycle")]
AFTER = [("agents", "0021_skill_versions")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def schema_before_skill_versions(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())  # the next test gets the current schema


def test_each_skill_row_becomes_version_one_of_a_valid_skill_and_launched_tasks_pin_it(schema_before_skill_versions):
    apps = schema_before_skill_versions
    team = apps.get_model("agents", "Team").objects.create(name="Old team")
    repo = apps.get_model("agents", "Repository").objects.create(team=team, name="r", path="/nonexistent")
    OldSkill = apps.get_model("agents", "Skill")
    small = OldSkill.objects.create(team=team, name="Small diff", description="Keep it small.", body="1. Small.")
    twin = OldSkill.objects.create(team=team, name="small  DIFF!", description="", body="")
    OldTask = apps.get_model("agents", "TaskSpec")
    launched = OldTask.objects.create(team=team, repo=repo, title="t", goal="g", launched_at="2026-01-01T00:00Z")
    draft = OldTask.objects.create(team=team, repo=repo, title="d", goal="g")
    launched.skills.add(small, twin)
    draft.skills.add(small)

    migrate(AFTER)

    skills = {s.pk: s for s in Skill.objects.all()}
    assert (skills[small.pk].name, skills[twin.pk].name) == ("small-diff", "small-diff-2")
    version = skills[small.pk].current
    assert (version.number, version.description, version.body) == (1, "Keep it small.", "1. Small.")
    assert skill_format.parse(version.text, "small-diff").name == "small-diff"
    assert skills[twin.pk].current.description == "small  DIFF!"  # an empty description takes the old name
    assert sorted(v.skill.name for v in skill_library.task_versions(TaskSpec.objects.get(pk=launched.pk))) == [
        "small-diff",
        "small-diff-2",
    ]
    assert TaskSpec.objects.get(pk=draft.pk).pinned_skills.count() == 0


def test_each_taste_guide_becomes_its_version_one_and_launched_tasks_pin_it(schema_before_skill_versions):
    apps = schema_before_skill_versions
    team = apps.get_model("agents", "Team").objects.create(name="Old team")
    repo = apps.get_model("agents", "Repository").objects.create(team=team, name="r", path="/nonexistent")
    guide = apps.get_model("agents", "TasteGuide").objects.create(team=team, name="g", rules=["One.", "Two."])
    OldTask = apps.get_model("agents", "TaskSpec")
    launched = OldTask.objects.create(team=team, repo=repo, title="t", goal="g", launched_at="2026-01-01T00:00Z")
    launched.taste_guides.add(guide)

    migrate([("agents", "0022_taste_versions")])

    assert [(v.number, v.rules) for v in TasteGuide.objects.get(pk=guide.pk).versions.all()] == [(1, ["One.", "Two."])]
    assert taste.task_rules(TaskSpec.objects.get(pk=launched.pk)) == ["One.", "Two."]
    assert TaskSpec.objects.get(pk=launched.pk).pinned_taste.count() == 1
