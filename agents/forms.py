"""Every rule about what a person may write, in one place: the pages, the JSON API and Django's admin use these forms."""

from __future__ import annotations

import re
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from agents import model_access, worktrees
from agents.models import ModelProfile, Repository, Skill, TaskSpec, TasteGuide

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
    if len(roster) > 1000:
        raise forms.ValidationError("At most 1,000 agents per task.")
    return roster


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
        ]
        widgets = {
            "goal": forms.Textarea(attrs={"rows": 4}),
            "context": forms.Textarea(attrs={"rows": 4}),
            "taste_guides": forms.CheckboxSelectMultiple,
            "skills": forms.CheckboxSelectMultiple,
        }
        help_texts = {
            "verify_command": "Run in each agent's worktree to verify a submission, e.g. “python -m pytest -q”.",
            "budget_minutes": "Per agent.",
        }

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["repo"].queryset = Repository.objects.in_team(team)
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
        help_text="One agent per line: Name = model profile, e.g. “Ada = sim-diligent”. Names must be unique.",
        max_length=20_000,
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
        if self.instance.pk and not self.is_bound:
            self.initial["acceptance_text"] = "\n".join(self.instance.acceptance)
            self.initial["roster_text"] = "\n".join(f"{r['name']} = {r['profile']}" for r in self.instance.roster)

    def clean(self):
        cleaned = super().clean()
        judges = cleaned.get("judge_profiles")
        roster = cleaned.get("roster_text")
        if judges and roster:
            worker_families = set(
                ModelProfile.objects.in_team(self.team)
                .filter(name__in=[r["profile"] for r in roster])
                .values_list("family", flat=True)
            )
            if all(j.family in worker_families for j in judges):
                self.add_error(
                    "judge_profiles",
                    "Pick at least one judge of another model family than the workers' "
                    f"({', '.join(sorted(worker_families))}): one family tends to make the same mistakes twice.",
                )
        return cleaned

    def clean_acceptance_text(self):
        return clean_acceptance(_lines(self.cleaned_data["acceptance_text"]))

    def clean_roster_text(self):
        entries, errors = [], []
        for line in _lines(self.cleaned_data["roster_text"]):
            name, sep, profile = (part.strip() for part in line.partition("="))
            if not sep:
                errors.append(f"“{line}”: write it as Name = profile.")
                continue
            entries.append((name, profile))
        return clean_roster(entries, self.team, errors)

    def save(self, commit=True):
        self.instance.acceptance = self.cleaned_data["acceptance_text"]
        self.instance.roster = self.cleaned_data["roster_text"]
        return super().save(commit)


class MessageForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20_000)
    mode = forms.ChoiceField(
        choices=[("queue", "queue"), ("steer", "steer"), ("interrupt", "interrupt")], initial="queue", required=False
    )

    def clean_mode(self):
        return self.cleaned_data.get("mode") or "queue"


# ---------------------------------------------------------------- repositories and model profiles
# Messages are fragments ("is not a directory on the server.") the API prefixes with the field's name and the pages
# with its label. None of them repeats the value: a field may hold a key pasted by mistake.


def repo_location(path: str) -> Path:
    """The resolved path if an operator allowed repositories there (SWARM_REPO_ROOTS), outside Swarm's own data and
    checkout. Checked before any git command runs there: git reads a repository's config as it opens it."""
    where = Path(path)
    if not where.is_absolute():
        raise forms.ValidationError("must be an absolute path on the server.")
    where = where.resolve()
    # agents of this team would read whatever the repository holds: not an agent's worktree, not Swarm's own files
    if where.is_relative_to(Path(settings.WORKTREES_DIR).resolve()):
        raise forms.ValidationError("is an agent's worktree; give the repository it was made from.")
    for own, what in ((settings.DATA_DIR, "data directory"), (settings.BASE_DIR, "own checkout")):
        own = Path(own).resolve()
        if where.is_relative_to(own) or own.is_relative_to(where):
            raise forms.ValidationError(f"is or holds Swarm's {what}, which agents must never read.")
    roots = [Path(root).resolve() for root in settings.SWARM_REPO_ROOTS]
    if not roots:
        raise forms.ValidationError(
            "cannot be registered: this server allows no repository directories (an operator sets SWARM_REPO_ROOTS)."
        )
    if not any(where.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise forms.ValidationError(f"is outside the directories this server allows repositories in: {allowed}.")
    if not where.is_dir():
        raise forms.ValidationError("is not a directory on the server.")
    return where


def repo_default_branch(where: Path) -> str:
    """The branch checked out in the repository at `where`, which must be its top-level directory."""
    enclosing = next((p for p in where.parents if (p / ".git").exists()), None)
    if not (where / ".git").exists() and enclosing is not None:
        raise forms.ValidationError(f"is inside the git repository at {enclosing}; give that top-level directory.")
    try:
        top = worktrees.git(where, "rev-parse", "--show-toplevel").strip()
    except worktrees.GitError as exc:
        raise forms.ValidationError(f"is not a git repository with a working tree (git says: {exc}).") from None
    if Path(top).resolve() != where:
        raise forms.ValidationError(f"is inside the git repository at {top}; give that top-level directory.")
    try:
        return worktrees.git(where, "symbolic-ref", "--short", "-q", "HEAD").strip() or "main"
    except worktrees.GitError:
        return "main"  # detached HEAD: assume the usual name


def plain_number(value) -> str:
    """0.5000 -> "0.5", 10.0000 -> "10": a price as a person writes it."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class _TeamForm(forms.ModelForm):
    """A team's object: the team is the instance's (pages, API) or, in Django's admin, a field of the form."""

    @property
    def team_id(self) -> int | None:
        team = self.cleaned_data.get("team") if "team" in self.fields else None
        return team.pk if team else self.instance.team_id

    def _fix_on_edit(self, name: str, why: str) -> None:
        if self.instance.pk:
            self.fields[name].disabled = True
            self.fields[name].help_text = why


class RepositoryForm(_TeamForm):
    """A git repository already on the server, by its path; the default branch is read from it. The path stays fixed
    once added (agents' worktrees are made from it): a repository elsewhere is another repository."""

    class Meta:
        model = Repository
        fields = ["name", "path", "verify_command"]
        labels = {"path": "Path"}
        help_texts = {
            "name": "How tasks name it, e.g. “inventory”.",
            "path": "Absolute path on the server of the repository's top-level directory, under a directory the"
            " operator allows (SWARM_REPO_ROOTS).",
            "verify_command": "Run in each agent's worktree to check a submission, e.g. “python -m pytest -q”;"
            " a task may set its own.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fix_on_edit("path", "Fixed once added: agents' worktrees are made from it.")

    def clean_path(self) -> str:
        if self.instance.pk:
            return self.instance.path
        where = repo_location(self.cleaned_data["path"])
        self.instance.default_branch = repo_default_branch(where)
        return str(where)

    def clean(self):
        cleaned = super().clean()
        path = cleaned.get("path")
        if path and not self.instance.pk and self.team_id:
            if Repository.objects.filter(path=path).exclude(team_id=self.team_id).exists():
                self.add_error("path", "is a repository of another team; ask an admin to share it.")
        return cleaned


class ModelProfileForm(_TeamForm):
    """A model a team's agents and judges may use. The key stays in the environment variable the profile names, one
    of the operator's (SWARM_MODEL_KEY_ENVS); hosts and providers are the operator's too (agents/model_access.py)."""

    class Meta:
        model = ModelProfile
        fields = [
            "name",
            "model",
            "api_base",
            "api_key_env",
            "family",
            "context_window",
            "input_usd_per_mtok",
            "output_usd_per_mtok",
        ]
        labels = {"model": "Model", "api_base": "API base URL", "api_key_env": "Key variable"}
        help_texts = {
            "name": "How task rosters name it, e.g. “gpt-4o” (letters, digits, '.', '_' or '-').",
            "model": "litellm model string: provider/model, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5,"
            " or sim/diligent (the offline simulator).",
            "api_base": "Only for an OpenAI-compatible server of your own (model openai/<name>), on a host the operator"
            " allows (SWARM_MODEL_HOSTS); empty: the provider's own endpoint.",
            "api_key_env": "The environment variable of the server that holds the key; the key itself is never shown"
            " or stored here.",
            "family": "Judges should come from another family than the workers'; empty: the provider.",
            "context_window": "Input tokens the model accepts; empty: litellm's figure, else SWARM_LLM_CONTEXT_TOKENS.",
            "input_usd_per_mtok": "USD per million input tokens; empty: litellm's price, if it knows the model.",
            "output_usd_per_mtok": "USD per million output tokens.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = list(settings.SWARM_MODEL_KEY_ENVS)
        current = self.instance.api_key_env
        choices = [("", "none (a server that takes no key)")] + [(name, name) for name in allowed]
        if current and current not in allowed:  # saved before the operator narrowed the list: shown, then refused
            choices.append((current, f"{current} (no longer allowed)"))
        self.fields["api_key_env"].widget = forms.Select(choices=choices)
        self.fields["family"].required = False
        if not self.instance.pk:
            self.initial["family"] = ""  # not the model's default ("simulator"): empty means the provider's name
        self.fields["context_window"].validators.append(MinValueValidator(1))
        for name in ("input_usd_per_mtok", "output_usd_per_mtok"):
            self.fields[name].validators.append(MinValueValidator(0))
            self.fields[name].widget.attrs["min"] = 0
            if self.initial.get(name) is not None:
                self.initial[name] = plain_number(self.initial[name])
        self._fix_on_edit("name", "Fixed once added: task rosters name it.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if not self.instance.pk and not PROFILE_NAME.match(name):
            raise forms.ValidationError(
                "must start with a letter or digit and use only letters, digits, '.', '_' or '-'."
            )
        return name

    def clean_model(self) -> str:
        model = self.cleaned_data["model"]
        if any(c.isspace() for c in model):
            raise forms.ValidationError("must not contain spaces (e.g. openai/gpt-4o or sim/diligent).")
        return model

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("model")
        if model is None or {"api_base", "api_key_env"} & set(self.errors):
            return cleaned
        try:  # the operator's settings decide which key variables, hosts and providers a profile may use
            model_access.check(model, cleaned.get("api_base", ""), cleaned.get("api_key_env", ""))
        except model_access.ProfileRefused as refused:
            self.add_error(refused.field, refused.message)
        if not cleaned.get("family"):
            cleaned["family"] = "simulator" if model.startswith("sim/") else model.split("/")[0]
        return cleaned
