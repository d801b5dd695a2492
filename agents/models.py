"""The work and its inputs: specs, taste, skills, model profiles, agents, events, messages (teams and access to them
live in models_teams, repositories in models_repos, the agents' conversations in models_conversation; all are
re-exported here)."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from agents.models_budget import BudgetRule

# re-exported: the rest of Swarm imports every model of the app from here
from agents.models_conversation import ConversationEntry  # noqa: F401
from agents.models_events import Event, Message, event_kinds, register_event_kinds  # noqa: F401
from agents.models_repos import Repository  # noqa: F401
from agents.models_skills import Skill, SkillFile, SkillUse, SkillVersion  # noqa: F401
from agents.models_teams import ApiToken, Invite, Membership, Team, TeamQuerySet, team_id_of  # noqa: F401


class TasteGuide(models.Model):
    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="taste_guides")
    name = models.CharField(max_length=100)
    rules = models.JSONField(default=list)  # list of short rules, one sentence each
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("agents:taste_edit", args=[self.pk])


class TasteVersion(models.Model):
    """The rules of a taste guide as one save left them: saving changed rules makes a new version; a task pins the
    versions of its guides at launch, and its agents and judges read those (agents/taste.py)."""

    TEAM_PATH = "guide__team"
    objects = TeamQuerySet.as_manager()

    guide = models.ForeignKey(TasteGuide, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["guide_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["guide", "number"], name="taste_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.guide.name} v{self.number}"


PRICE = {"max_digits": 10, "decimal_places": 4, "null": True, "blank": True}


class ModelProfile(models.Model):
    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="model_profiles")
    name = models.CharField(max_length=100)
    model = models.CharField(max_length=200, help_text="litellm model string, e.g. openai/gpt-4o or sim/diligent")
    api_base = models.CharField(max_length=300, blank=True, default="")
    api_key_env = models.CharField(max_length=100, blank=True, default="", help_text="NAME of the env var with the key")
    family = models.CharField(max_length=50, default="simulator")
    # figures litellm may not know (empty: litellm's, else SWARM_LLM_CONTEXT_TOKENS and no cost); agents/llm reads them
    context_window = models.PositiveIntegerField(null=True, blank=True, help_text="input tokens the model accepts")
    input_usd_per_mtok = models.DecimalField("input price", **PRICE, help_text="USD per million input tokens")
    output_usd_per_mtok = models.DecimalField("output price", **PRICE, help_text="USD per million output tokens")
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="the provider's limit, shared by every agent and worker (empty: none)"
    )
    investigates = models.BooleanField(
        "judges with tools",
        default=False,
        help_text="as a judge, investigate with read-only tools in a checkout of the submission (reads, runs tests)",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="profile_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name

    @property
    def simulated(self) -> bool:
        return self.model.startswith("sim/")


class PlannerLimit(NamedTuple):
    default: int
    low: int
    high: int
    what: str  # in a sentence: "The maximum workers is a whole number from 1 to 100."
    description: str  # for the API's schema and the task file's, with {low}, {high} and {default}

    def describe(self) -> str:
        return self.description.format(low=self.low, high=self.high, default=self.default)


# a planner's limits (TaskSpec.planner), defined once for the form, the API, task files and the planner itself
PLANNER_LIMITS = {
    "max_workers": PlannerLimit(
        4, 1, 100, "maximum workers", "spawned agents in the task, {low} to {high} (default {default})"
    ),
    "max_depth": PlannerLimit(
        1, 1, 3, "maximum depth", "depth of the tree, {low} (workers only) to {high} (default {default})"
    ),
}


class TaskSpec(models.Model):
    TEAM_PATH = "team"
    objects = TeamQuerySet.as_manager()

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="tasks")
    repo = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(max_length=200)
    goal = models.TextField()
    context = models.TextField(blank=True, default="")
    acceptance = models.JSONField(default=list)  # list of criteria strings
    verify_command = models.CharField(max_length=500, blank=True, default="")
    budget_minutes = models.PositiveIntegerField(default=30)
    budget_tokens = models.PositiveIntegerField(default=200_000)
    budget_usd = models.DecimalField(max_digits=8, decimal_places=2, default=5)
    taste_guides = models.ManyToManyField(TasteGuide, blank=True, related_name="tasks")
    skills = models.ManyToManyField(Skill, blank=True, related_name="tasks")
    # the versions of its skills it launched with: what its agents are offered and load (agents/skill_library.py)
    pinned_skills = models.ManyToManyField(SkillVersion, blank=True, related_name="pinned_by")
    pinned_taste = models.ManyToManyField(TasteVersion, blank=True, related_name="pinned_by")
    roster = models.JSONField(default=list)  # [{"name": "Ada", "profile": "sim-diligent"}]
    # verification: the judge panel, how its votes combine, and where approved work is merged
    judge_profiles = models.ManyToManyField(ModelProfile, blank=True, related_name="judging_tasks")
    judge_rule = models.CharField(
        max_length=10, choices=[("unanimous", "unanimous"), ("majority", "majority")], default="unanimous"
    )
    auto_approve = models.BooleanField(
        default=False, help_text="Skip the person when verification passes and the panel is unanimous."
    )
    target_branch = models.CharField(max_length=100, blank=True, default="", help_text="Defaults to the repository's.")
    best_of_n = models.BooleanField(
        "best of N",
        default=False,
        help_text="Every agent attempts the same spec; approving one attempt closes the others.",
    )
    # launched with a planner instead of the roster (agents/planner.py): {"profile": planner's profile, "workers":
    # [profiles it may give its workers], "max_workers": n, "max_depth": n, "name": the planner's name}; {} = roster
    planner = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    launched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("agents:task_detail", args=[self.pk])

    @property
    def effective_verify_command(self) -> str:
        return self.verify_command or self.repo.verify_command

    def planner_limit(self, name: str) -> int:
        """One of the planner's limits (PLANNER_LIMITS): the task's, else the default."""
        return int((self.planner or {}).get(name) or PLANNER_LIMITS[name].default)

    @property
    def effective_target_branch(self) -> str:
        return self.target_branch or self.repo.default_branch


class Agent(BudgetRule, models.Model):
    """One named agent working on one task in its own worktree. Its run is the sequence of its steps."""

    TEAM_PATH = "task__team"
    objects = TeamQuerySet.as_manager()

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        PREPARING = "preparing", "preparing"  # launched; its worktree is being made (agents.preparation)
        RUNNING = "running", "running"
        AWAITING_REVIEW = "awaiting_review", "awaiting review"
        PAUSED = "paused", "paused"
        ERROR = "error", "error"
        ACCEPTED = "accepted", "accepted"
        STOPPED = "stopped", "stopped"

    ATTENTION = {Status.AWAITING_REVIEW, Status.PAUSED, Status.ERROR}
    WORKING = {Status.QUEUED, Status.PREPARING, Status.RUNNING}
    LOOP_PAUSE = "looping: "  # how the runtime's loop guard starts its pause reason (agents/guards.py writes it)
    QUESTION_PAUSE = "asks: "  # how an agent's `ask_person` starts its pause reason; the question follows
    WAIT_PAUSE = "waits for: "  # how a planner's `wait_for` starts its pause reason; its workers' names follow
    CLOSED = "closed: "  # how a best-of-N attempt stopped by another's approval starts its reason (judges/bestof.py)
    FINISHED = {Status.ACCEPTED, Status.STOPPED}  # no more steps, messages or budget; the worktree may go

    task = models.ForeignKey(TaskSpec, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=60)
    role = models.CharField(max_length=40, default="worker")  # "worker" or "planner" (agents/planner.py)
    # the planner that spawned it (null: launched from the task); its work merges into the parent's branch
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # a spawned agent's own spec: {"goal", "acceptance": [..], "verify_command"}; {} = the task's
    subtask = models.JSONField(default=dict, blank=True)
    handoff = models.TextField(blank=True, default="")  # written at submit: changed, verified, left, unsure
    cycle = models.PositiveIntegerField(default=1)  # a planner's: each starts from a fresh context (judges/cycles.py)
    # the budget carved from the parent's at spawn (null: the task's budget)
    allotted_minutes = models.PositiveIntegerField(null=True, blank=True)
    allotted_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    allotted_usd = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    profile = models.ForeignKey(ModelProfile, on_delete=models.PROTECT, related_name="agents")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    status_reason = models.CharField(max_length=300, blank=True, default="")
    activity = models.CharField(max_length=300, blank=True, default="")
    branch = models.CharField(max_length=200, blank=True, default="")
    worktree = models.CharField(max_length=500, blank=True, default="")
    base_commit = models.CharField(max_length=40, blank=True, default="")
    submitted_commit = models.CharField(max_length=40, blank=True, default="")
    # usage
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    elapsed_seconds = models.FloatField(default=0)
    steps = models.PositiveIntegerField(default=0)
    nudges = models.PositiveIntegerField(default=0)
    refused_edits = models.PositiveIntegerField(default=0)
    loops_caught = models.PositiveIntegerField(default=0)
    recent_calls = models.JSONField(default=list)  # fingerprints of the last tool calls, for loop detection
    # budget a person granted on top of the task's (the agent pauses at 100% and asks)
    extra_minutes = models.PositiveIntegerField(default=0)
    extra_tokens = models.PositiveBigIntegerField(default=0)
    extra_usd = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    files_read = models.JSONField(default=list)
    files_edited = models.JSONField(default=list)
    # the skill it follows now (load_skill; finish_skill or loading another ends it): {"name", "version", "tools"},
    # tools being the version's allowed-tools, which bound its calls meanwhile (agents/guards.py)
    active_skill = models.JSONField(default=dict, blank=True)
    # run bookkeeping (RELIABILITY D1/D2): event counter row, lease and fencing token
    next_seq = models.PositiveBigIntegerField(default=1)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    # SWARM_WORKER_DISK=local: the worker whose disk holds the agent's worktree (its steps go to that worker's queue)
    disk_holder = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    fencing_token = models.PositiveBigIntegerField(default=0)
    # the one live schedule of the agent's next step: older queued step tasks see a stale token and do nothing
    schedule_token = models.PositiveBigIntegerField(default=0)
    next_step_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="agent_name_unique_in_task")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("agents:agent_detail", args=[self.pk])

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def needs_attention(self) -> bool:
        return self.status in self.ATTENTION and not self.waiting_on_workers

    @classmethod
    def attention_q(cls) -> models.Q:
        """Those that wait for a person (a planner paused on its own workers waits for nobody)."""
        waiting_on_workers = models.Q(status=cls.Status.PAUSED, status_reason__startswith=cls.WAIT_PAUSE)
        return models.Q(status__in=cls.ATTENTION) & ~waiting_on_workers

    @property
    def waiting_for(self) -> str:
        """Why the agent waits for a person, in a word: verdict, budget, loop, paused, error; "" when it does not."""
        if self.status == self.Status.AWAITING_REVIEW:
            return "verdict"
        if self.status == self.Status.ERROR:
            return "error"
        if self.status != self.Status.PAUSED:
            return ""
        if self.waiting_on_workers:
            return "workers"
        if self.needs_budget:
            return "budget"
        if self.status_reason.startswith(self.QUESTION_PAUSE):
            return "question"
        return "loop" if self.status_reason.startswith(self.LOOP_PAUSE) else "paused"

    @property
    def question(self) -> str:
        """The question a paused agent asked its supervisors (its pause reason holds it), or ""."""
        if self.status == self.Status.PAUSED and self.status_reason.startswith(self.QUESTION_PAUSE):
            return self.status_reason[len(self.QUESTION_PAUSE) :]
        return ""

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    # What a person may do now: "" if allowed, else the sentence they see (the header, agents/bulk.py, services ask)
    def resume_refusal(self, *, stopped_too: bool = False, withdrawn: bool = False) -> str:
        if self.status == self.Status.AWAITING_REVIEW and not withdrawn:  # a rejection or a withdrawal moves it
            return f"{self.name} is awaiting review: only a reviewer's decision sends it back to work."
        if self.needs_budget:
            stop = self.budget_stop()
            to = f" (the grant goes to {stop.grant_to}: no worker outspends its planner)" if stop.grant_to else ""
            return f"{self.name} is paused: {stop.sentence}. Grant more budget to resume it{to}."
        if self.status == self.Status.STOPPED and stopped_too and not self.worktree:
            return f"{self.name}'s worktree was cleaned up, so it cannot resume."
        if self.status in self.ATTENTION or (stopped_too and self.status == self.Status.STOPPED):  # those that wait
            return ""
        return f"{self.name} is {self.get_status_display()}: there is nothing to resume."

    def pause_refusal(self) -> str:
        return "" if self.status == self.Status.RUNNING else f"{self.name} is {self.get_status_display()}, not running."

    def grant_refusal(self) -> str:
        if self.finished:
            return f"{self.name} has finished ({self.get_status_display()}); it needs no more budget."
        why = "has budget left: resume it instead" if self.status == "paused" else f"is {self.get_status_display()}"
        return "" if self.needs_budget else f"{self.name} {why}; only an agent paused for budget is granted more."

    def clean_up_refusal(self) -> str:
        if not self.finished:
            return f"{self.name} is still {self.get_status_display()}: stop it before cleaning up."
        return "" if self.worktree else f"{self.name}'s worktree was cleaned up already."

    @property
    def colour(self) -> int:
        """One of 12 stable hues for the agent's name, so it is recognisable everywhere."""
        return int(hashlib.sha1(self.name.encode()).hexdigest()[:4], 16) % 12

    @property
    def verify_command(self) -> str:
        return self.subtask.get("verify_command") or self.task.effective_verify_command

    @property
    def acceptance(self) -> list[str]:
        return list(self.subtask.get("acceptance") or self.task.acceptance)

    @property
    def merge_target(self) -> str:
        """Where its approved work merges: its planner's branch, else the task's target branch."""
        return self.parent.branch if self.parent_id else self.task.effective_target_branch

    @property
    def waiting_on_workers(self) -> bool:
        return self.status == self.Status.PAUSED and self.status_reason.startswith(self.WAIT_PAUSE)

    @property
    def waited_names(self) -> list[str]:
        """The workers a planner waiting for them named (its pause reason lists them); [] when it does not wait."""
        listed = self.status_reason[len(self.WAIT_PAUSE) :] if self.waiting_on_workers else ""
        return [name.strip() for name in listed.split(",") if name.strip()]

    def wait_progress(self, children: list | None = None) -> tuple[int, int]:
        """(how many of the workers it waits for still work, how many it waits for). `children`: the agents it
        spawned, when the caller holds them already (the tree); else one query."""
        names = set(self.waited_names)
        if children is None:
            statuses = list(self.children.filter(name__in=names).values_list("status", flat=True))
        else:
            statuses = [child.status for child in children if child.name in names]
        return sum(status in self.WORKING for status in statuses), len(statuses)
