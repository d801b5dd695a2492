"""A team's repositories and model profiles: what a person may write there, for the pages, the JSON API and Django's
admin (agents/team_setup.py saves them). Apart from agents/forms.py, which holds the rules on the work itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from agents import model_access, remotes, worktrees
from agents.models import ModelProfile, Repository

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

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
        if self.instance.pk and name in self.fields:
            self.fields[name].disabled = True
            self.fields[name].help_text = why


class RepositoryForm(_TeamForm):
    """A git repository already on the server, by its path (the default branch is read from it), or one Swarm clones
    from a URL in the background (agents/cloning.py; the default branch is the remote's HEAD), on a host the operator
    allows and with one of the operator's credentials. Where it comes from stays fixed once added (agents' worktrees
    are made from it): a repository elsewhere is another repository."""

    SOURCES = [("path", "Server path"), ("url", "Remote repository")]
    source = forms.ChoiceField(
        label="Add from", choices=SOURCES, initial="path", widget=forms.RadioSelect, required=False
    )
    credential = forms.ChoiceField(label="Credential", required=False)

    class Meta:
        model = Repository
        fields = ["name", "source", "path", "url", "credential", "verify_command"]
        labels = {"path": "Path", "url": "Clone URL"}
        help_texts = {
            "name": "How tasks name it, e.g. “inventory”.",
            "path": "Absolute path on the server of the repository's top-level directory, under a directory the"
            " operator allows (SWARM_REPO_ROOTS).",
            "url": "https://, ssh://, user@host:path or git:// on a host the operator allows (SWARM_GIT_HOSTS); never"
            " a password or token in it. Cloned in the background, progress on the Repositories page.",
            "credential": "A deploy key or token the operator set up (SWARM_GIT_CREDENTIALS), by name; its secret is"
            " never shown.",
            "verify_command": "Run in each agent's worktree to check a submission, e.g. “python -m pytest -q”;"
            " a task may set its own.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = remotes.credential_choices()
        current = self.instance.credential
        if current and current not in dict(choices):  # withdrawn by the operator since: shown, then refused
            choices.append((current, f"{current} (no longer configured)"))
        self.fields["credential"].choices = choices
        self.fields["path"].required = False
        if self.instance.pk:
            self.fields["source"].initial = "url" if self.instance.url else "path"
            self.fields["source"].disabled = True
        self._fix_on_edit("path", "Fixed once added: agents' worktrees are made from it.")
        self._fix_on_edit("url", "Fixed once added: agents' worktrees are made from its clone.")

    def by_url(self) -> bool:
        if self.instance.pk:
            return bool(self.instance.url)
        source = self.data.get(self.add_prefix("source")) or ("url" if self.data.get(self.add_prefix("url")) else "")
        return source == "url"

    def clean_path(self) -> str:
        if self.instance.pk:
            return self.instance.path
        if self.by_url():
            return ""
        if not self.cleaned_data.get("path"):
            raise forms.ValidationError("is required to add a repository on this server.")
        where = repo_location(self.cleaned_data["path"])
        self.instance.default_branch = repo_default_branch(where)
        return str(where)

    def clean_url(self) -> str:
        if self.instance.pk:
            return self.instance.url
        if not self.by_url():
            return ""
        if settings.SWARM_WORKER_DISK == "local":  # the clone job may run on a worker, whose disk the web never sees
            raise forms.ValidationError(
                "cannot be cloned by Swarm while workers keep disks of their own (SWARM_WORKER_DISK=local): clone it"
                " on this server and add it by its path."
            )
        try:
            self.remote = remotes.parse(self.cleaned_data.get("url", ""))
        except remotes.Refused as refused:
            raise forms.ValidationError(refused.message) from None
        return self.remote.url

    def clean(self):
        cleaned = super().clean()
        path = cleaned.get("path")
        if path and not self.by_url() and not self.instance.pk and self.team_id:
            if Repository.objects.filter(path=path).exclude(team_id=self.team_id).exists():
                self.add_error("path", "is a repository of another team; ask an admin to share it.")
        if not self.by_url():
            cleaned["credential"] = ""
        elif cleaned.get("url") and cleaned.get("credential"):
            try:  # a key or token goes only where the operator lends it
                remote = getattr(self, "remote", None) or remotes.parse(cleaned["url"])
                remotes.check_credential(cleaned["credential"], remote)
            except remotes.Refused as refused:
                self.add_error(refused.field, refused.message)
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
            "requests_per_minute",
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
            "requests_per_minute": "The provider's rate limit for this model, kept by every agent and worker together"
            " (calls wait their turn, shown on the agent's card); empty: none.",
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
