"""The JSON endpoints of a team's setup that the pages have: change or remove a repository or a model profile, test a
profile's connection, the members and their roles, and invitation links.

Each handler calls the service its page calls (agents/team_setup.py, agents/teams.py), so a rule has one home; the
routes with their shapes are at the end. Team setup needs the admin role, and a token of scope admin
(agents/permissions.py's SCOPES).
"""

from __future__ import annotations

import time

from django.urls import reverse

from agents import team_setup, teams
from agents.api import _form_data, profile_json, repo_detail, repo_json
from agents.api_base import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    STRINGS,
    TEAM_REF,
    TIME,
    Operation,
    Route,
    body,
    obj,
    owned,
    request_team,
)
from agents.api_lists import PAGE_QUERY, page_schema, paged
from agents.api_schemas import NEW_PROFILE, NEW_REPO, PROFILE, REPO
from agents.errors import InvalidForm
from agents.models import Invite, Membership, ModelProfile, Repository
from agents.setup_forms import ModelProfileForm, plain_number

# ---------------------------------------------------------------- repositories and model profiles


def _repo(request, pk: int) -> Repository:
    return owned(request, Repository.objects, pk, "repository")


def _profile(request, pk: int) -> ModelProfile:
    return owned(request, ModelProfile.objects, pk, "model profile")


def repo_update(request, data: dict, pk: int) -> dict:
    """The fields sent replace the repository's; where it comes from (path, url) stays, as on the page."""
    repo = _repo(request, pk)
    fields = {"name": repo.name, "credential": repo.credential, "verify_command": repo.verify_command}
    fields.update(_form_data(data, tuple(data)))
    return repo_json(team_setup.update_repository(request.user, repo, fields))


def repo_delete(request, pk: int) -> dict:
    repo = _repo(request, pk)
    team_setup.delete_repository(request.user, repo)
    return {"id": pk, "name": repo.name, "deleted": True}


def _profile_fields(profile: ModelProfile, data: dict) -> dict:
    """The profile's values as its form reads them, with the body's fields in their place."""
    fields = {}
    for name in ModelProfileForm.Meta.fields:
        value = getattr(profile, name)
        fields[name] = plain_number(value) if name.endswith("_mtok") and value is not None else value
    fields.update(data)
    fields = _form_data(fields, tuple(fields))
    if fields["investigates"] == "False":
        fields["investigates"] = ""  # an unticked box sends nothing
    return fields


def model_detail(request, pk: int) -> dict:
    return profile_json(_profile(request, pk))


def model_update(request, data: dict, pk: int) -> dict:
    """The fields sent replace the profile's; its name stays (task rosters name it), as on the page."""
    profile = _profile(request, pk)
    return profile_json(team_setup.update_model_profile(request.user, profile, _profile_fields(profile, data)))


def model_delete(request, pk: int) -> dict:
    profile = _profile(request, pk)
    team_setup.delete_model_profile(request.user, profile)
    return {"id": pk, "name": profile.name, "deleted": True}


def model_test(request, data: dict, pk: int) -> dict:
    """ "Test connection": one tiny real call with the profile as saved, or as the body would change it (nothing is
    saved). A provider's refusal is the answer's `error` (any key redacted), not a failed request."""
    profile = _profile(request, pk)
    return _probe(ModelProfileForm(_profile_fields(profile, data), instance=profile), profile.name)


def model_test_new(request, data: dict) -> dict:
    """ "Test connection" on the form of a profile not saved yet: the same call with the body's values."""
    team = request_team(request, data.get("team"))
    form = ModelProfileForm(_form_data(data, tuple(ModelProfileForm.Meta.fields)), instance=ModelProfile(team=team))
    return _probe(form, data.get("name", ""))


def _probe(form: ModelProfileForm, name: str) -> dict:
    if not form.is_valid():
        raise InvalidForm(form)
    from agents import llm  # imports litellm (seconds): only when a test is asked for

    started, result = time.monotonic(), {"ok": False, "answer": "", "tools": [], "error": ""}
    try:
        turn = llm.probe(form.instance)
    except llm.ModelError as exc:
        result["error"] = str(exc)
    else:
        result.update(ok=True, answer=turn.content or "", tools=[c.name for c in turn.tool_calls])
    return {"profile": name, **result, "seconds": round(time.monotonic() - started, 3)}


# ---------------------------------------------------------------- members and invitations


def member_json(m: Membership) -> dict:
    return {"id": m.pk, "team": m.team_id, "username": m.user.username, "role": m.role}


def _member(request, pk: int) -> Membership:
    return owned(request, Membership.objects.select_related("user"), pk, "member")


def members_list(request) -> dict:
    rows = Membership.objects.for_user(request.user).select_related("user").order_by("team_id", "user__username")
    return paged(request, rows, "members", member_json)


def member_update(request, data: dict, pk: int) -> dict:
    member = _member(request, pk)
    member = teams.change_role(request.user, member.team_id, member.pk, data["role"])
    return member_json(member)


def member_remove(request, pk: int) -> dict:
    member = _member(request, pk)
    teams.remove_member(request.user, member.team_id, member.pk)
    return {"id": pk, "username": member.user.username, "removed": True}


def _time(value) -> str | None:
    return value.isoformat() if value else None


def invite_json(i: Invite) -> dict:
    by = i.created_by.username if i.created_by_id else None
    return {"id": i.pk, "team": i.team_id, "role": i.role, "created_by": by, "expires_at": _time(i.expires_at)}


def invites_list(request) -> dict:
    """The invitations still open (the page's list): never their links, which were shown once."""
    rows = Invite.objects.for_user(request.user).usable().select_related("created_by").order_by("-id")
    return paged(request, rows, "invites", invite_json)


def invite_create(request, data: dict):
    team = request_team(request, data.get("team"))
    invite, raw = teams.create_invite(request.user, team.pk, data["role"])
    # shown once, in this answer only: the token is stored hashed
    return {**invite_json(invite), "link": request.build_absolute_uri(reverse("agents:invite", args=[raw]))}


def invite_revoke(request, pk: int) -> dict:
    invite = owned(request, Invite.objects, pk, "invitation")
    teams.revoke_invite(request.user, invite.team_id, invite.pk)
    return {"id": pk, "revoked": True}


# ---------------------------------------------------------------- shapes and routes

_REPO_FIELDS = {k: NEW_REPO["properties"][k] for k in ("name", "credential", "verify_command")}
REPO_CHANGE = body([], **_REPO_FIELDS)
_PROFILE_FIELDS = {k: v for k, v in NEW_PROFILE["properties"].items() if k not in ("team", "name")}
PROFILE_CHANGE = body([], **_PROFILE_FIELDS)
REMOVED = obj(id=INTEGER, name=STRING, deleted=BOOLEAN)
TESTED = obj(
    "ConnectionTest",
    profile=STRING,
    ok=BOOLEAN,
    answer={"type": "string", "description": "the model's reply"},
    tools={**STRINGS, "description": "the tools it called"},
    error={"type": "string", "description": "the provider's refusal, keys redacted (empty when ok)"},
    seconds=NUMBER,
)
ROLE = {"type": "string", "enum": Membership.Role.values}
MEMBER = obj("Member", id=INTEGER, team=INTEGER, username=STRING, role=ROLE)
INVITE = obj("Invite", id=INTEGER, team=INTEGER, role=ROLE, created_by={"type": ["string", "null"]}, expires_at=TIME)
ISSUED_INVITE = obj(
    "IssuedInvite",
    **INVITE["properties"],
    link={"type": "string", "description": "the one-time link: in this answer only, stored hashed"},
)

ROUTES = [
    Route(
        "repos/<int:pk>",
        "api_repo",
        get=Operation(repo_detail, "A repository and its clone's state", REPO),
        patch=Operation(
            repo_update,
            "Change a repository's name, credential or verify command (its path or URL stays)",
            REPO,
            body=REPO_CHANGE,
            errors=(409,),
            action="manage_repos",
        ),
        delete=Operation(
            repo_delete,
            "Remove a repository from Swarm (nothing on the server is deleted but Swarm's own clone); refused while"
            " tasks are written on it",
            REMOVED,
            errors=(409,),
            action="manage_repos",
        ),
    ),
    Route(
        "models/<int:pk>",
        "api_model",
        get=Operation(model_detail, "A model profile", PROFILE),
        patch=Operation(
            model_update,
            "Change a model profile: the fields sent replace its own (its name stays: rosters name it)",
            PROFILE,
            body=PROFILE_CHANGE,
            action="manage_models",
        ),
        delete=Operation(
            model_delete,
            "Delete a model profile no agent, roster or judge panel uses",
            REMOVED,
            errors=(409,),
            action="manage_models",
        ),
    ),
    Route(
        "models/test",
        "api_model_test_new",
        post=Operation(
            model_test_new,
            "Test connection for a profile not saved yet: one tiny real call with the fields sent (nothing is saved)",
            TESTED,
            body=NEW_PROFILE,
            action="manage_models",
        ),
    ),
    Route(
        "models/<int:pk>/test",
        "api_model_test",
        post=Operation(
            model_test,
            "Test connection: one tiny real call with the profile, changed by the fields sent (nothing is saved)",
            TESTED,
            body=PROFILE_CHANGE,
            action="manage_models",
        ),
    ),
    Route(
        "members",
        "api_members",
        get=Operation(members_list, "Your teams' members and roles", page_schema("members", MEMBER), query=PAGE_QUERY),
    ),
    Route(
        "members/<int:pk>",
        "api_member",
        patch=Operation(
            member_update,
            "Change a member's role (a team keeps at least one admin)",
            MEMBER,
            body=body(["role"], role=ROLE),
            errors=(409,),
            action="manage_members",
        ),
        delete=Operation(
            member_remove,
            "Remove a member from the team (a team keeps at least one admin)",
            obj(id=INTEGER, username=STRING, removed=BOOLEAN),
            errors=(409,),
            action="manage_members",
        ),
    ),
    Route(
        "invites",
        "api_invites",
        get=Operation(
            invites_list,
            "Your teams' open invitations (never their links)",
            page_schema("invites", INVITE),
            query=PAGE_QUERY,
        ),
        post=Operation(
            invite_create,
            "Make a one-time invitation link with a role; the answer holds the link, once",
            ISSUED_INVITE,
            status=201,
            body=body(["role"], team=TEAM_REF, role=ROLE),
            action="manage_members",
        ),
    ),
    Route(
        "invites/<int:pk>",
        "api_invite",
        delete=Operation(
            invite_revoke,
            "Revoke an invitation: its link stops working",
            obj(id=INTEGER, revoked=BOOLEAN),
            action="manage_members",
        ),
    ),
]
urlpatterns = [route.urlpattern() for route in ROUTES]
