"""The agents app's route table: each URL under /api/, what its methods do, and the shapes they take and answer.

The URL patterns and the OpenAPI document are both made from it (judges/api_urls.py has the verdicts' table).
"""

from agents import api, api_actions, api_taskfiles
from agents import api_schemas as schemas
from agents.api_base import Operation, Route
from agents.api_lists import PAGE_QUERY, page_schema
from agents.api_skills import ROUTES as SKILL_ROUTES

ROUTES = [
    Route("health", "api_health", get=Operation(api.health, "Status and run mode", schemas.HEALTH, auth="none")),
    Route(
        "openapi.json",
        "api_openapi",
        get=Operation(api.openapi, "This API described as OpenAPI 3.1", {"type": "object"}, auth="token"),
    ),
    Route(
        "repos",
        "api_repos",
        get=Operation(api.repos_list, "Your teams' repositories", page_schema("repos", schemas.REPO), query=PAGE_QUERY),
        post=Operation(
            api.repos_create,
            "Add a git repository that is on the server (path), or clone one in the background (url)",
            schemas.REPO,
            status=201,
            body=schemas.NEW_REPO,
            errors=(409,),
            action="manage_repos",
        ),
    ),
    Route(
        "repos/<int:pk>/fetch",
        "api_repo_fetch",
        post=Operation(
            api.repo_fetch,
            "Fetch a cloned repository again, or retry a failed clone, in the background",
            schemas.REPO,
            status=202,
            errors=(400, 409),
            action="manage_repos",
        ),
    ),
    Route(
        "models",
        "api_models",
        get=Operation(
            api.models_list, "Your teams' model profiles", page_schema("models", schemas.PROFILE), query=PAGE_QUERY
        ),
        post=Operation(
            api.models_create,
            "Add a model profile (the key stays in the named environment variable)",
            schemas.PROFILE,
            status=201,
            body=schemas.NEW_PROFILE,
            errors=(409,),
            action="manage_models",
        ),
    ),
    Route(
        "tasks",
        "api_tasks",
        get=Operation(
            api.tasks_list,
            "Your teams' tasks, newest first",
            page_schema("tasks", schemas.TASK_SUMMARY),
            query=PAGE_QUERY,
        ),
        post=Operation(
            api.tasks_create,
            "Write a task spec with its roster",
            schemas.TASK,
            status=201,
            body=schemas.NEW_TASK,
            action="edit_task",
        ),
    ),
    Route(
        "tasks/<int:pk>",
        "api_task",
        get=Operation(api.task_detail, "A task with its agents", schemas.TASK),
        patch=Operation(
            api_actions.task_update,
            "Change a task: the fields sent replace the task's, the others stay (the task form's rules)",
            schemas.TASK,
            body=schemas.TASK_CHANGE,
            action="edit_task",
        ),
        delete=Operation(
            api_actions.task_delete,
            "Delete a task with its agents (their branches stay); refused while agents work or verdicts refer to it",
            schemas.DELETED,
            errors=(409,),
            action="edit_task",
        ),
    ),
    Route(
        "tasks/<int:pk>/launch",
        "api_task_launch",
        post=Operation(
            api.task_launch,
            "Launch the task: one agent per roster entry, each on its own branch and worktree",
            schemas.LAUNCHED,
            status=201,
            errors=(400, 409),
            action="launch",
        ),
    ),
    Route(
        "agents/<int:pk>",
        "api_agent",
        get=Operation(
            api.agent_detail,
            "An agent with its usage, and what a message to it would do now",
            schemas.AGENT_DETAIL,
        ),
    ),
    Route(
        "agents/<int:pk>/events",
        "api_agent_events",
        get=Operation(
            api.agent_events,
            "The agent's events in seq order, as the browser sees them",
            schemas.EVENTS,
            query={"after": {"type": "integer", "minimum": 0, "description": "only events with a larger seq"}},
        ),
    ),
    Route(
        "agents/<int:pk>/messages",
        "api_agent_messages",
        post=Operation(
            api.agent_message,
            "Send the agent a message; `delivery` says when it reads it (resending a client_msg_id answers its message)",
            schemas.MESSAGE,
            status=201,
            body=schemas.NEW_MESSAGE,
            errors=(409,),
            action="message",
        ),
    ),
    *api_taskfiles.ROUTES,
]

ROUTES += SKILL_ROUTES
urlpatterns = [route.urlpattern() for route in ROUTES]
