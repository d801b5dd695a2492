"""Swarm's models in Django's admin (/admin/), for the operator: everything can be listed, filtered and searched.

What changes only through the app's services is read-only here: agents, their events, messages and conversations,
tasks, invitations and members' roles (each change there records an event after commit, keeps an audit row or a
team's last admin, or closes a removed member's sockets). Repositories and model profiles are added and changed with the pages' forms and
services, so the operator's rules (SWARM_REPO_ROOTS, keys, hosts) hold here too; taste guides and skills with their
forms. A change to a team's object needs the role the app asks for in that team, as on the pages.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from agents import permissions, team_setup
from agents.errors import ServiceError
from agents.forms import TasteGuideForm
from agents.models import (
    Agent,
    ApiToken,
    ConversationEntry,
    Event,
    Invite,
    Membership,
    Message,
    ModelProfile,
    Repository,
    Skill,
    SkillFile,
    SkillUse,
    SkillVersion,
    TaskSpec,
    TasteGuide,
    TasteVersion,
    Team,
)
from agents.setup_forms import ModelProfileForm, RepositoryForm


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and searched, never changed here: a change must go through the app's services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class _RoleChecked(forms.BaseForm):
    """Refuses, as a form error, a change the user's role in the object's team does not allow."""

    user = None  # set per request by TeamObjectAdmin.get_form
    action = "view"

    def clean(self):
        cleaned = super().clean()
        team = cleaned.get("team")
        team_id = team.pk if team else self.instance.team_id
        if team_id is not None:
            try:
                permissions.require(self.user, team_id, self.action)
            except ServiceError as refused:
                raise forms.ValidationError(refused.message) from None
        return cleaned


class TeamObjectAdmin(admin.ModelAdmin):
    """One team's object, changed with its page's form; the team is chosen when it is added, then fixed."""

    action = "view"
    list_filter = ["team"]

    def get_readonly_fields(self, request, obj=None):
        return ("team",) if obj else ()

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (_RoleChecked, form), {"user": request.user, "action": self.action})

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the pages delete, with the app's refusals (in use, running agents)


@admin.register(Repository)
class RepositoryAdmin(TeamObjectAdmin):
    form = RepositoryForm
    action = "manage_repos"
    fields = ["team", "name", "path", "verify_command"]
    list_display = ["name", "team", "path", "url", "clone_status", "default_branch", "verify_command"]
    list_filter = ["team", "clone_status"]
    search_fields = ["name", "path", "url"]

    def save_model(self, request, obj, form, change):
        team_setup.save_repository(request.user, form)


@admin.register(ModelProfile)
class ModelProfileAdmin(TeamObjectAdmin):
    form = ModelProfileForm
    action = "manage_models"
    fields = ["team", *ModelProfileForm.Meta.fields]
    list_display = ["name", "team", "model", "family", "api_base", "api_key_env", "context_window"]
    list_filter = ["team", "family"]
    search_fields = ["name", "model", "family"]

    def save_model(self, request, obj, form, change):
        team_setup.save_model_profile(request.user, form)


@admin.register(TasteGuide)
class TasteGuideAdmin(TeamObjectAdmin):
    form = TasteGuideForm
    action = "edit_taste"
    fields = ["team", "name", "rules_text"]
    list_display = ["name", "team", "updated_at"]
    search_fields = ["name"]


@admin.register(TasteVersion)
class TasteVersionAdmin(ReadOnlyAdmin):
    """A save of a guide's rules (agents/taste.py makes them); tasks pin them at launch."""

    list_display = ["guide", "number", "created_by", "created_at"]
    list_filter = ["guide__team"]
    search_fields = ["guide__name"]


@admin.register(Skill)
class SkillAdmin(ReadOnlyAdmin):
    """Listed here; written on the skills pages (versions, files and archives go through agents/skill_library.py)."""

    list_display = ["name", "team", "created_at"]
    list_filter = ["team"]
    search_fields = ["name", "versions__description"]


@admin.register(SkillVersion)
class SkillVersionAdmin(ReadOnlyAdmin):
    list_display = ["skill", "number", "description", "created_by", "created_at"]
    list_filter = ["skill__team"]
    search_fields = ["skill__name", "description", "body"]
    exclude = ["text"]  # the body and frontmatter show it


@admin.register(SkillFile)
class SkillFileAdmin(ReadOnlyAdmin):
    list_display = ["version", "path", "size"]
    search_fields = ["path", "version__skill__name"]
    exclude = ["content"]


@admin.register(SkillUse)
class SkillUseAdmin(ReadOnlyAdmin):
    list_display = ["version", "agent", "loaded_at"]
    list_filter = ["agent__task__team"]
    search_fields = ["version__skill__name", "agent__name"]


@admin.register(Team)
class TeamModelAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count"]
    search_fields = ["name"]

    @admin.display(description="members")
    def member_count(self, team: Team) -> int:
        return team.memberships.count()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # it would take every task, agent, verdict and audit row of the team with it


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """A new team's first admin is added here; roles change and members leave on the team page (its services keep
    one admin per team and close a removed member's sockets)."""

    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    list_select_related = ["user", "team"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdmin):
    list_display = ["team", "role", "created_by", "created_at", "expires_at", "used_at", "used_by"]
    list_filter = ["role", "team"]
    search_fields = ["team__name", "created_by__username", "used_by__username"]
    exclude = ["digest"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Made by `manage.py api_token`, the team page or the API; deleting one here revokes it."""

    list_display = ["user", "name", "scope", "created_at"]
    list_filter = ["scope"]
    search_fields = ["user__username", "name"]
    exclude = ["digest"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return True


@admin.register(TaskSpec)
class TaskSpecAdmin(ReadOnlyAdmin):
    list_display = ["title", "team", "repo", "created_by", "created_at", "launched_at"]
    list_filter = ["team", "judge_rule", "auto_approve"]
    search_fields = ["title", "goal"]
    date_hierarchy = "created_at"
    list_select_related = ["team", "repo", "created_by"]


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ["name", "task", "profile", "status", "steps", "tokens", "cost_usd", "started_at"]
    list_filter = ["status", "profile__family", "task__team"]
    search_fields = ["name", "task__title", "branch", "status_reason"]
    list_select_related = ["task", "profile"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["agent", "seq", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["agent__name", "agent__task__title"]
    list_select_related = ["agent"]
    show_full_result_count = False  # the biggest table: no second COUNT(*) per page


@admin.register(ConversationEntry)
class ConversationEntryAdmin(ReadOnlyAdmin):
    list_display = ["agent", "position", "role"]
    search_fields = ["agent__name", "agent__task__title"]
    list_select_related = ["agent"]
    ordering = ["agent", "position"]
    show_full_result_count = False  # a row per message of every agent

    @admin.display(description="role")
    def role(self, entry: ConversationEntry) -> str:
        return entry.message.get("role", "") if isinstance(entry.message, dict) else ""


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["agent", "sender_label", "mode", "state", "created_at", "delivered_at", "answered_at"]
    list_filter = ["state", "mode"]
    search_fields = ["text", "agent__name", "author__username"]
    list_select_related = ["agent", "author", "sender_agent"]
