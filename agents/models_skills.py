"""A team's skills in the Agent Skills format (agents/skill_format.py): a skill is a name and its versions; each
version holds its SKILL.md text, parsed, and its files. Editing makes a new version; a task pins the versions it
launched with (TaskSpec.pinned_skills), and each agent that loads one is recorded (SkillUse)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from agents.models_teams import Team, TeamQuerySet


class Skill(models.Model):
    """A reusable way of working an agent may load by name: its versions, the newest first."""

    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="skills")
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="skill_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("agents:skill_detail", args=[self.pk])

    @property
    def current(self) -> SkillVersion | None:
        """The newest version (prefetched `versions` are used when there)."""
        cache = getattr(self, "_prefetched_objects_cache", {})
        if "versions" in cache:
            return max(cache["versions"], key=lambda v: v.number, default=None)
        return self.versions.order_by("-number").first()

    @property
    def description(self) -> str:
        current = self.current
        return current.description if current else ""


class SkillVersion(models.Model):
    TEAM_PATH = "skill__team"
    objects = TeamQuerySet.as_manager()

    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()  # the whole SKILL.md: frontmatter and body
    description = models.CharField(max_length=1024)
    body = models.TextField()
    frontmatter = models.JSONField(default=dict)
    # provenance: the agents whose approved runs it was drafted from ("Save as skill"), by id
    sources = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["skill_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["skill", "number"], name="skill_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.skill.name} v{self.number}"

    def file_map(self) -> dict[str, bytes]:
        return {f.path: bytes(f.content) for f in self.files.all()}


class SkillFile(models.Model):
    """One file of a skill's version besides SKILL.md (scripts/, references/, assets/), by its checked path."""

    version = models.ForeignKey(SkillVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=200)
    content = models.BinaryField()
    size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version_id", "path"]
        constraints = [models.UniqueConstraint(fields=["version", "path"], name="skill_file_path_unique")]

    def text(self) -> str | None:
        """Its content as UTF-8 text, or None for a binary file."""
        raw = bytes(self.content)
        if b"\x00" in raw:
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None


class SkillUse(models.Model):
    """An agent loaded a version of a skill (once per agent and version): what a skill's use counts come from."""

    TEAM_PATH = "agent__task__team"
    objects = TeamQuerySet.as_manager()

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="skill_uses")
    version = models.ForeignKey(SkillVersion, on_delete=models.CASCADE, related_name="uses")
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "version"], name="skill_use_once_per_agent")]
