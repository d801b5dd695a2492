"""The skill library in the Agent Skills format: what the format refuses (naming the field), versions on edit, the
versions a task pins at launch, and zip archives in and out (the round trip, and hostile archives refused)."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest

from agents import services, skill_archive, skill_format, skill_library
from agents.errors import FieldError, ServiceError
from agents.models import Skill
from agents.skill_library import Draft

SCRIPT = b"#!/bin/sh\necho checked\n"
PNG = bytes(range(256)) * 4  # a binary asset, every byte value


def md(name: str, description: str = "Checks things. Use when checking.", body: str = "Do the check.", **extra):
    lines = [f"name: {name}", f"description: {description}", *(f"{k}: {v}" for k, v in extra.items())]
    return "---\n" + "\n".join(lines) + f"\n---\n\n{body}\n"


def library(team) -> dict:
    """What a person sees of the library: each skill's versions in order, each its SKILL.md and its files."""
    return {
        s.name: [(v.number, v.text, v.file_map()) for v in s.versions.order_by("number").prefetch_related("files")]
        for s in Skill.objects.in_team(team)
    }


@pytest.mark.parametrize(
    "text, field, reason",
    [
        (md("x" * 65), "name", "is 65 characters long; at most 64"),
        (md("Small-Diff"), "name", "may hold only lowercase letters, digits and single hyphens"),
        (md("-lead"), "name", "may hold only lowercase letters"),
        (md("a--b"), "name", "may hold only lowercase letters"),
        ("---\ndescription: no name\n---\nbody\n", "name", "is required"),
        ("---\nname: ok\n---\nbody\n", "description", "is required"),
        (md("ok", "d" * 1025), "description", "is 1025 characters long; at most 1024"),
        (md("ok", compatibility="c" * 501), "compatibility", "at most 500"),
        (md("ok", metadata="[1, 2]"), "metadata", "must map text keys to text values"),
        (md("ok", version="2"), "version", "is not a field of the Agent Skills format"),
        (md("ok", **{"allowed-tools": '""'}), "allowed-tools", "lists no tool"),
        (md("ok", **{"allowed-tools": "[read_file]"}), "allowed-tools", "must be text"),
        ("no frontmatter at all\n", "SKILL.md", "must start with a --- line"),
        ("---\nname: [unclosed\n---\nbody\n", "SKILL.md", "is not valid YAML"),
        (md("ok", body=""), "SKILL.md", "has no instructions"),
        ("---\nname: " + "[" * 3000 + "\n---\nbody\n", "SKILL.md", "nests too deeply"),
        (md("ok", body="a NUL \x00 in the body"), "SKILL.md", "no database can store"),
    ],
)
def test_an_invalid_skill_is_refused_naming_the_field_and_the_reason(demo, alice, text, field, reason):
    team, _ = demo
    before = library(team)
    with pytest.raises(FieldError) as refused:
        skill_library.create_skill(alice, team, Draft(text, {}))
    assert refused.value.field == field and reason in refused.value.message, refused.value.message
    assert library(team) == before


def test_the_name_must_match_the_folder_it_came_in():
    with pytest.raises(skill_format.SkillInvalid, match="must match the skill's folder name 'other'"):
        skill_format.parse(md("checker"), folder="other")


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.sh", "scripts/../../x", ".git/config", "a/.GIT/hooks/x"])
def test_a_file_path_that_leaves_the_folder_or_names_a_repository_is_refused(demo, alice, path):
    team, _ = demo
    with pytest.raises(FieldError) as refused:
        skill_library.create_skill(alice, team, Draft(md("checker"), {path: b"x"}))
    assert refused.value.field == path
    assert not Skill.objects.in_team(team).filter(name="checker").exists()


def test_editing_makes_a_new_version_and_a_launched_task_keeps_the_version_it_pinned(demo, alice):
    team, task = demo
    skill = Skill.objects.in_team(team).get(name="small-diff")
    first = skill.current
    task.skills.set([skill])
    services.launch_task(task)
    second = skill_library.new_version(alice, skill, Draft(md("small-diff", body="Now even smaller."), {}))
    assert (first.number, second.number) == (1, 2)
    assert skill_library.new_version(alice, skill, Draft(second.text, {})) == second  # nothing changed: no v3
    task.refresh_from_db()
    assert [v.pk for v in skill_library.task_versions(task)] == [first.pk]
    with pytest.raises(FieldError, match="a name never changes"):
        skill_library.new_version(alice, skill, Draft(md("renamed"), {}))


def test_a_skill_in_use_by_working_agents_is_not_deleted(demo, alice):
    team, task = demo
    services.launch_task(task)
    skill = Skill.objects.in_team(team).get(name="small-diff")
    with pytest.raises(ServiceError, match="in use by “Fix mean\\(\\) in mathutil”"):
        skill_library.delete_skill(alice, skill)
    assert Skill.objects.filter(pk=skill.pk).exists()


def test_a_viewer_cannot_write_skills(demo, victor):
    with pytest.raises(ServiceError, match="only operator or admin may write or delete taste guides and skills"):
        skill_library.create_skill(victor, demo[0], Draft(md("checker"), {}))


def test_export_all_delete_import_gives_the_same_library(demo, alice):
    team, _ = demo
    v1 = skill_library.create_skill(alice, team, Draft(md("checker"), {"scripts/check.sh": SCRIPT}))
    skill_library.new_version(
        alice,
        v1.skill,
        Draft(md("checker", body="Check twice."), {"scripts/check.sh": SCRIPT, "assets/logo.png": PNG}),
    )
    skill_library.new_version(
        alice, v1.skill, Draft(md("checker", body="Check thrice.", license="MIT"), {"references/why.md": b"# Why"})
    )
    before = library(team)
    assert len(before["checker"]) == 3 and set(before) == {"checker", "reproduce-first", "small-diff"}

    exported = skill_archive.export(Skill.objects.in_team(team))
    assert skill_archive.export(Skill.objects.in_team(team)) == exported  # deterministic
    for skill in Skill.objects.in_team(team):
        skill_library.delete_skill(alice, skill)
    assert library(team) == {}

    assert skill_archive.import_archive(alice, team, exported) == ["checker", "reproduce-first", "small-diff"]
    assert library(team) == before
    assert skill_archive.import_archive(alice, team, exported) == []  # the same again: nothing new
    assert library(team) == before

    names = zipfile.ZipFile(io.BytesIO(exported)).namelist()
    assert "checker/SKILL.md" in names and ".swarm-history/checker/1/SKILL.md" in names  # a plain folder, and history


def _zip(*entries: tuple[str, bytes], symlink: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return out.getvalue()


@pytest.mark.parametrize(
    "archive, field, reason",
    [
        (b"not a zip", "archive", "is not a zip file"),
        (_zip(("checker/SKILL.md", md("checker").encode()), ("checker/../../x", b"x")), "checker/../../x", ".."),
        (_zip(("/abs/SKILL.md", md("abs").encode())), "/abs/SKILL.md", "is absolute"),
        (_zip(("checker/SKILL.md", md("checker").encode()), symlink="checker/link"), "checker/link", "symbolic link"),
        (_zip(("checker/SKILL.md", md("checker").encode()), ("checker/.git/HEAD", b"x")), "checker/.git/HEAD", "git"),
        (
            _zip(("checker/SKILL.md", md("checker").encode()), ("checker/bomb.bin", b"\0" * 5_000_000)),
            "checker/bomb.bin",
            "inflates to more than 1,000,000 bytes",
        ),
        (_zip(("readme.txt", b"hello")), "archive", "holds no SKILL.md"),
        (_zip(("wrong/SKILL.md", md("checker").encode())), "name", "must match the skill's folder name 'wrong'"),
        (
            _zip(("a/SKILL.md", md("a").encode()), ("a/b/SKILL.md", md("b").encode())),
            "a/b",
            "is a skill inside the skill a",
        ),
    ],
)
def test_a_hostile_or_broken_archive_is_refused_with_a_clear_error_and_nothing_stored(
    demo, alice, archive, field, reason
):
    team, _ = demo
    before = library(team)
    with pytest.raises(FieldError) as refused:
        skill_archive.import_archive(alice, team, archive)
    assert refused.value.field == field and reason in refused.value.message, refused.value.message
    assert library(team) == before


def test_an_archive_is_all_or_nothing(demo, alice):
    team, _ = demo
    archive = _zip(("good/SKILL.md", md("good").encode()), ("bad/SKILL.md", md("bad", "").encode()))
    with pytest.raises(FieldError, match="description"):
        skill_archive.import_archive(alice, team, archive)
    assert not Skill.objects.in_team(team).filter(name="good").exists()


def test_a_zip_of_one_skill_at_its_root_is_named_by_its_frontmatter(demo, alice):
    team, _ = demo
    archive = _zip(("SKILL.md", md("rooted").encode()), ("references/a.md", b"# A"))
    assert skill_archive.import_archive(alice, team, archive) == ["rooted"]
    assert Skill.objects.in_team(team).get(name="rooted").current.file_map() == {"references/a.md": b"# A"}


def test_an_import_checks_each_skill_once(demo, alice, monkeypatch):
    team, _ = demo
    parsed: list[str] = []
    real_parse = skill_format.parse

    def counting(text, folder=None):
        parsed.append(folder)
        return real_parse(text, folder)

    monkeypatch.setattr(skill_format, "parse", counting)
    archive = _zip(("one/SKILL.md", md("one").encode()), ("two/SKILL.md", md("two").encode()))
    assert skill_archive.import_archive(alice, team, archive) == ["one", "two"]
    assert sorted(parsed) == ["one", "two"]


def test_a_command_mounts_the_tasks_skill_files_in_two_queries_however_many(demo, alice, django_assert_num_queries):
    team, task = demo
    made = [
        skill_library.create_skill(
            alice, team, Draft(md(f"many-{i}"), {"scripts/run.sh": SCRIPT, "references/why.md": b"# Why"})
        ).skill
        for i in range(4)
    ]
    task.skills.set(made)
    services.launch_task(task)
    task.refresh_from_db()
    with django_assert_num_queries(2):
        files = skill_library.sandbox_files(task)
    assert len(files) == 12 and files["/skills/many-3/scripts/run.sh"] == SCRIPT
    assert files["/skills/many-0/SKILL.md"] == md("many-0").encode()


def test_allowed_tools_of_other_products_are_kept_shown_as_ignored_and_bound_nothing(demo, alice, client):
    team, _ = demo
    version = skill_library.create_skill(
        alice, team, Draft(md("careful", **{"allowed-tools": "read_file, search"}), {})
    )
    assert skill_library.active(version) == {"name": "careful", "version": 1, "tools": ["read_file", "search"]}
    # a skill written for another product (spec-valid): its names are taken and kept, only Swarm's bound the calls
    mixed = md("careful", **{"allowed-tools": "Bash(git add:*) Read read_file"})
    version = skill_library.new_version(alice, version.skill, Draft(mixed, {}))
    assert version.number == 2 and "Bash(git add:*) Read read_file" in version.text
    assert skill_library.active(version)["tools"] == ["read_file"]  # Bash is no tool an agent could call
    client.force_login(alice)
    page = client.get(version.skill.get_absolute_url()).content.decode()
    assert '<code>Bash(git add:*)</code> <span class="muted">not a Swarm tool: ignored</span>' in page
    assert '<code>Read</code> <span class="muted">not a Swarm tool: ignored</span>' in page
    assert "<code>read_file</code></li>" in page and "it may call only" in page
    preview = client.post("/skills/preview/", {"skill_md": mixed}).content.decode()
    assert "<code>Read</code> (not a Swarm tool: ignored), <code>read_file</code></p>" in preview

    foreign = skill_library.create_skill(alice, team, Draft(md("other", **{"allowed-tools": "Bash(git:*) Read"}), {}))
    assert skill_library.active(foreign)["tools"] == []  # none of Swarm's: no bound
    page = client.get(foreign.skill.get_absolute_url()).content.decode()
    assert "It lists no Swarm tool: an agent following it may call every tool." in page
    assert "it may call only" not in page
    plain = client.get(Skill.objects.in_team(team).get(name="small-diff").get_absolute_url()).content.decode()
    assert "Not listed: an agent following it may call every tool." in plain
