"""Repositories: a git repository on the server, by its path, or one Swarm cloned from a URL into its data dir (the
clone's state lives here; agents/remotes.py makes and updates the clone)."""

from __future__ import annotations

from django.db import models

from agents.models_teams import Team, TeamQuerySet


class Repository(models.Model):
    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    class CloneStatus(models.TextChoices):
        READY = "ready", "ready"
        CLONING = "cloning", "cloning"
        FETCHING = "fetching", "fetching"
        FAILED = "failed", "failed"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=100)
    # a repository added by path: that path; one cloned from `url`: Swarm's bare clone of it in the data dir
    path = models.CharField(max_length=500, blank=True)
    default_branch = models.CharField(max_length=100, default="main")
    verify_command = models.CharField(max_length=500, blank=True, default="")
    # cloned from a URL (never with credentials in it), with one of the operator's credentials by name
    url = models.CharField(max_length=300, blank=True, default="")
    credential = models.CharField(max_length=50, blank=True, default="")
    clone_status = models.CharField(max_length=10, choices=CloneStatus.choices, default=CloneStatus.READY)
    clone_progress = models.PositiveSmallIntegerField(null=True, blank=True)  # percent of git's current phase
    # while cloning: git's phase; failed: the error; ready: what the last fetch could not do (empty: all went well)
    clone_detail = models.CharField(max_length=500, blank=True, default="")
    clone_queued_at = models.DateTimeField(null=True, blank=True)
    clone_beat_at = models.DateTimeField(null=True, blank=True)  # the job holding it was alive then; null: unclaimed
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "repositories"
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="repo_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name

    @property
    def busy(self) -> bool:
        """A clone or fetch is queued or running: shown live, and neither started again nor removed meanwhile."""
        return self.clone_status in (self.CloneStatus.CLONING, self.CloneStatus.FETCHING)

    @property
    def ready(self) -> bool:
        """Agents may work on it: a path, or a clone that finished (a fetch running meanwhile changes no agent)."""
        return self.clone_status in (self.CloneStatus.READY, self.CloneStatus.FETCHING)

    def not_ready_reason(self) -> str:
        """Why no task may launch on it now ("" when one may)."""
        if self.ready:
            return ""
        if self.clone_status == self.CloneStatus.CLONING:
            done = f" ({self.clone_progress}% {self.clone_detail})" if self.clone_progress is not None else ""
            return f"Repository {self.name} is still being cloned{done}; launch once it is ready."
        return f"Repository {self.name} could not be cloned ({self.clone_detail}); retry it on the Repositories page."
