"""The rules on what a person writes about the work (tasks, taste guides, messages): the pages, the JSON API and
Django's admin use these forms. A team's repositories and model profiles have theirs in agents/setup_forms.py."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import MinValueValidator

from agents import worktrees
from agents.models import PLANNER_LIMITS, ModelProfile, Repository, Skill, TaskSpec, TasteGuide

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
MAX_AGENTS = 1000  # per task


def _lines(text: str) -> list[str]:
    return [
        line.strip().lstrip("-*").strip() for line in (text or "").splitlines() if line.strip().lstrip("-*").strip()
    ]


class TasteGuideForm(forms.ModelForm):
    rules_text = forms.CharField(
        label="Rules",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One rule per line, e.g. “Never weaken a test to make it pass.”",
        max_length=20_000,
    )

    class Meta:
        model = TasteGuide
        fields = ["name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["rules_text"] = "\n".join(self.instance.rules)

    def clean_rules_text(self):
        rules = _lines(self.cleaned_data["rules_text"])
        if not rules:
            raise forms.ValidationError("Write at least one rule.")
        if any(len(r) > 500 for r in rules):
            raise forms.ValidationError("Keep each rule under 500 characters.")
        return rules

    def save(self, commit=True):
        self.instance.rules = self.cleaned_data["rules_text"]
        return super().save(commit)


def clean_acceptance(criteria: list[str]) -> list[str]:
    """Acceptance rules shared by the task form and the API: at least one non-blank criterion."""
    criteria = [c.strip() for c in criteria if c.strip()]
    if not criteria:
        raise forms.ValidationError("Write at least one acceptance criterion.")
    return criteria


def parse_roster(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The page's roster, one "Name = profile" a line -> (name, profile) pairs and the lines that are not so."""
    entries, errors = [], []
    for line in _lines(text):
        name, sep, profile = (part.strip() for part in line.partition("="))
        if not sep:
            errors.append(f"“{line}”: write it as Name = profile.")
            continue
        entries.append((name, profile))
    return entries, errors


def clean_roster(entries: list[tuple[str, str]], team, errors: list[str] | None = None) -> list[dict]:
    """Roster rules shared by the task form and the API: (name, profile) pairs -> [{"name", "profile"}].

    Names are unique (case-insensitively) and well formed, profiles belong to the team. `errors` carries
    problems the caller already found while parsing, so a person sees all of them at once.
    """
    profiles = set(ModelProfile.objects.in_team(team).values_list("name", flat=True))
    roster, seen, errors = [], set(), list(errors or [])
    for name, profile in entries:
        if not NAME_RE.match(name):
            errors.append(f"“{name}”: a name starts with a letter and has at most 40 letters, digits, - or _.")
        elif worktrees.slug(name) in seen:
            errors.append(
                f"“{name}” appears twice; agent names must be unique within a task (ignoring case, - and _),"
                " since each names a branch."
            )
        if profile not in profiles:
            errors.append(f"“{profile}” is not a model profile of your team (have: {', '.join(sorted(profiles))}).")
        seen.add(worktrees.slug(name))
        roster.append({"name": name, "profile": profile})
    if errors:
        raise forms.ValidationError(errors)
    if not roster:
        raise forms.ValidationError("Name at least one agent.")
    if len(roster) > MAX_AGENTS:
        raise forms.ValidationError(f"At most {MAX_AGENTS:,} agents per task (this roster has {len(roster):,}).")
    return roster


def clean_planner(profile: str, workers: list[str], max_workers, max_depth, team) -> dict:
    """A planner for a task (shared by the task form and the API): its profile, the pool of worker profiles it may
    choose from, and its limits -> TaskSpec.planner; {} when no planner profile is named (the roster launches)."""
    if not profile:
        return {}
    profiles = set(ModelProfile.objects.in_team(team).values_list("name", flat=True))
    unknown = sorted({profile, *workers} - profiles)
    if unknown:
        raise forms.ValidationError(f"Not model profiles of your team: {', '.join(unknown)}.")
    if not workers:
        raise forms.ValidationError("Choose at least one worker profile the planner may give its workers.")
    for value, limit in ((max_workers, PLANNER_LIMITS["max_workers"]), (max_depth, PLANNER_LIMITS["max_depth"])):
        if not isinstance(value, int) or isinstance(value, bool) or not limit.low <= value <= limit.high:
            raise forms.ValidationError(f"The {limit.what} is a whole number from {limit.low} to {limit.high}.")
    return {
        "profile": profile,
        "workers": list(dict.fromkeys(workers)),
        "max_workers": max_workers,
        "max_depth": max_depth,
    }


def planner_limit_field(name: str, label: str, **kwargs) -> forms.IntegerField:
    limit = PLANNER_LIMITS[name]
    return forms.IntegerField(
        label=label, min_value=limit.low, max_value=limit.high, initial=limit.default, required=False, **kwargs
    )


def planner_json(conf: dict) -> dict | None:
    """TaskSpec.planner as the API and task files write it (the inverse of clean_planner); None: no planner."""
    if not conf:
        return None
    return {"model": conf.get("profile"), **{k: conf.get(k) for k in ("workers", "max_workers", "max_depth")}}


def check_best_of(best_of_n: bool, roster: list[dict]) -> None:
    """Best of N compares attempts: it needs at least two agents (shared by the task form and the API)."""
    if best_of_n and len(roster) < 2:
        raise forms.ValidationError("Best of N compares attempts: name at least two agents, ideally of two families.")


def panel_refusal(judges, roster: list[dict], team) -> str:
    """Why a judge panel does not suit the roster ("" when it does): one judge at least of another model family
    than the workers' (shared by the task form and the API's panel settings)."""
    if not judges:
        return ""
    worker_families = set(
        ModelProfile.objects.in_team(team)
        .filter(name__in=[r["profile"] for r in roster])
        .values_list("family", flat=True)
    )
    if all(j.family in worker_families for j in judges):
        return (
            "Pick at least one judge of another model family than the workers' "
            f"({', '.join(sorted(worker_families))}): one family tends to make the same mistakes twice."
        )
    return ""


class TaskFieldsForm(forms.ModelForm):
    """A task's own fields and their rules, shared by the page form and the JSON API (which send acceptance
    criteria and the roster differently: lines of text there, JSON lists here)."""

    class Meta:
        model = TaskSpec
        fields = [
            "title",
            "repo",
            "goal",
            "context",
            "verify_command",
            "budget_minutes",
            "budget_tokens",
            "budget_usd",
            "taste_guides",
            "skills",
            "best_of_n",
        ]
        widgets = {
            "goal": forms.Textarea(attrs={"rows": 4}),
            "context": forms.Textarea(attrs={"rows": 4}),
            "taste_guides": forms.CheckboxSelectMultiple,
            "skills": forms.CheckboxSelectMultiple,
        }
        help_texts = {
            "verify_command": "Run in each agent's worktree to verify a submission, e.g. “python -m pytest -q”.",
            "budget_minutes": "Per agent; with a planner, the planner's, shared down its tree.",
            "best_of_n": "Every agent attempts the same spec; you compare the attempts side by side, and approving"
            " one closes the others.",
        }

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["repo"].queryset = Repository.objects.in_team(team)
        # a clone still on its way (or failed) may be written on, not launched on: the choice says so
        self.fields["repo"].label_from_instance = lambda r: r.name if r.ready else f"{r.name} ({r.clone_status})"
        self.fields["taste_guides"].queryset = TasteGuide.objects.in_team(team)
        self.fields["skills"].queryset = Skill.objects.in_team(team)
        self.fields["goal"].required = True
        self.fields["goal"].error_messages["required"] = "Say what the agents should achieve."
        # a field's min_value only acts when given to its constructor, so add the validators themselves
        for name, low in (("budget_minutes", 1), ("budget_usd", 0)):
            self.fields[name].validators.append(MinValueValidator(low))
            self.fields[name].widget.attrs["min"] = low

    def clean_goal(self):
        goal = self.cleaned_data.get("goal", "").strip()
        if not goal:
            raise forms.ValidationError("Say what the agents should achieve.")
        return goal

    def save(self, commit=True):
        self.instance.team = self.team
        return super().save(commit)


class TaskSpecForm(TaskFieldsForm):
    class Meta(TaskFieldsForm.Meta):
        fields = [*TaskFieldsForm.Meta.fields, "judge_profiles", "judge_rule", "auto_approve", "target_branch"]
        widgets = {**TaskFieldsForm.Meta.widgets, "judge_profiles": forms.CheckboxSelectMultiple}
        labels = {"judge_profiles": "Judges", "judge_rule": "Panel rule"}
        help_texts = {
            **TaskFieldsForm.Meta.help_texts,
            "judge_profiles": "Pick judges of other model families than the workers'; none picked: the team's judge"
            " profiles.",
        }

    acceptance_text = forms.CharField(
        label="Acceptance criteria",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One criterion per line; judges check each one.",
        max_length=20_000,
    )
    roster_text = forms.CharField(
        label="Agents",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One agent per line: Name = model profile, e.g. “Ada = sim-diligent”. Names must be unique."
        " Or generate them below. Not needed with a planner.",
        max_length=MAX_AGENTS * 150,  # a name of 40 characters, " = ", a profile's name of 100
        required=False,
    )
    planner_profile = forms.ChoiceField(
        label="Planner",
        required=False,
        help_text="Launch one planner instead of the agents above: it splits the work and spawns named workers.",
    )
    planner_workers = forms.MultipleChoiceField(
        label="Worker profiles the planner may choose from", required=False, widget=forms.CheckboxSelectMultiple
    )
    planner_max_workers = planner_limit_field("max_workers", "Maximum workers")
    planner_max_depth = planner_limit_field(
        "max_depth", "Maximum depth", help_text="1: workers only; 2: sub-planners too."
    )

    POLICY_FIELDS = ("judge_profiles", "judge_rule", "auto_approve")

    def __init__(self, *args, team, policy: bool = False, **kwargs):
        """`policy`: the user may choose the judge panel and auto-approve (admins); for others those fields show
        their current value and a submitted value is ignored, so an operator cannot skip the reviewers."""
        super().__init__(*args, team=team, **kwargs)
        self.fields["judge_profiles"].queryset = ModelProfile.objects.in_team(team)
        if not self.instance.pk:
            self.initial["judge_profiles"] = list(
                ModelProfile.objects.in_team(team).filter(model__contains="judge").values_list("pk", flat=True)
            )
        if not policy:
            for name in self.POLICY_FIELDS:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Set by a team admin."
        names = list(ModelProfile.objects.in_team(team).order_by("name").values_list("name", flat=True))
        self.fields["planner_profile"].choices = [("", "— none: launch the agents above —"), *((n, n) for n in names)]
        self.fields["planner_workers"].choices = [(n, n) for n in names]
        if self.instance.pk and not self.is_bound:
            self.initial["acceptance_text"] = "\n".join(self.instance.acceptance)
            self.initial["roster_text"] = "\n".join(f"{r['name']} = {r['profile']}" for r in self.instance.roster)
            planner = self.instance.planner or {}
            self.initial.update(
                planner_profile=planner.get("profile", ""),
                planner_workers=planner.get("workers", []),
                planner_max_workers=self.instance.planner_limit("max_workers"),
                planner_max_depth=self.instance.planner_limit("max_depth"),
            )

    def clean(self):
        cleaned = super().clean()
        judges = cleaned.get("judge_profiles")
        try:
            cleaned["planner"] = clean_planner(
                cleaned.get("planner_profile", ""),
                cleaned.get("planner_workers", []),
                cleaned.get("planner_max_workers") or PLANNER_LIMITS["max_workers"].default,
                cleaned.get("planner_max_depth") or PLANNER_LIMITS["max_depth"].default,
                self.team,
            )
        except forms.ValidationError as exc:
            self.add_error("planner_workers", exc)
        if not cleaned.get("roster_text") and not cleaned.get("planner") and "roster_text" not in self.errors:
            self.add_error("roster_text", "Name at least one agent, or choose a planner.")
        roster = cleaned.get("roster_text")
        if roster:
            try:
                check_best_of(cleaned.get("best_of_n", False), roster)
            except forms.ValidationError as exc:
                self.add_error("best_of_n", exc)
        refusal = panel_refusal(judges, roster, self.team) if roster else ""
        if refusal:
            self.add_error("judge_profiles", refusal)
        return cleaned

    def clean_acceptance_text(self):
        return clean_acceptance(_lines(self.cleaned_data["acceptance_text"]))

    def clean_roster_text(self):
        entries, errors = parse_roster(self.cleaned_data["roster_text"])
        return clean_roster(entries, self.team, errors) if entries or errors else []

    def save(self, commit=True):
        self.instance.acceptance = self.cleaned_data["acceptance_text"]
        self.instance.roster = self.cleaned_data["roster_text"]
        self.instance.planner = self.cleaned_data.get("planner") or {}
        return super().save(commit)


class MessageForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20_000)
    mode = forms.ChoiceField(
        choices=[("queue", "queue"), ("steer", "steer"), ("interrupt", "interrupt")], initial="queue", required=False
    )
    # what happens to a waiting agent (agents/messaging.py): send, resume with it, or withdraw the submission
    then = forms.ChoiceField(choices=[(t, t) for t in ("queue", "resume", "withdraw")], required=False)

    def clean_mode(self):
        return self.cleaned_data.get("mode") or "queue"

    def clean_then(self):
        return self.cleaned_data.get("then") or "queue"
