"""The JSON shapes of the agents app's API: what it answers and the bodies it takes (OpenAPI and body checks)."""

from __future__ import annotations

from agents.api_base import BOOLEAN, INTEGER, NUMBER, STRING, STRINGS, TEAM_REF, TIME, body, obj, text
from agents.models import PLANNER_LIMITS, Message

MAX_INT = 2**31 - 1  # what a PositiveIntegerField holds on every database

# ---------------------------------------------------------------- schemas of what the agents app answers

HEALTH = obj(status=STRING, mode={"type": "string", "enum": ["embedded", "distributed"]})
REPO = obj(
    "Repository",
    id=INTEGER,
    name=STRING,
    path=STRING,
    default_branch=STRING,
    verify_command=STRING,
    url={"type": "string", "description": "the clone URL (empty: a repository added by its path)"},
    credential={"type": "string", "description": "the operator's credential it is cloned with, by name"},
    clone_status={"type": "string", "enum": ["ready", "cloning", "fetching", "failed"]},
    clone_progress={"type": ["integer", "null"], "description": "percent of git's current phase while cloning"},
    clone_detail={"type": "string", "description": "git's phase, the error, or what the last fetch could not do"},
    fetched_at=TIME,
)
PROFILE = obj(
    "ModelProfile",
    id=INTEGER,
    name=STRING,
    model=STRING,
    api_base=STRING,
    api_key_env=STRING,
    family=STRING,
    context_window={"type": ["integer", "null"], "description": "input tokens; null: litellm's figure"},
    input_usd_per_mtok={"type": ["number", "null"], "description": "USD per million input tokens; null: litellm's"},
    output_usd_per_mtok={"type": ["number", "null"], "description": "USD per million output tokens; null: litellm's"},
    requests_per_minute={"type": ["integer", "null"], "description": "the provider's rate limit; null: none"},
    investigates={"type": "boolean"},
    simulated={"type": "boolean"},
)
USAGE = obj(
    tokens_in=INTEGER,
    tokens_out=INTEGER,
    tokens=INTEGER,
    cost_usd=NUMBER,
    elapsed_seconds=NUMBER,
    steps=INTEGER,
    nudges=INTEGER,
)
BUDGET = obj(minutes=INTEGER, tokens=INTEGER, usd=NUMBER)
AGENT_SUMMARY = obj(
    "AgentSummary",
    id=INTEGER,
    name=STRING,
    model=STRING,
    simulated={"type": "boolean"},
    status=STRING,
    status_reason=STRING,
    waiting_for={
        **STRING,
        "description": "why it waits: verdict, budget, loop, question, paused, error; workers (a planner waiting for"
        " its workers: nobody needs to act)",
    },
    question={**STRING, "description": "the question it asked its supervisors (ask_person) while it waits on it"},
    activity=STRING,
    branch=STRING,
    spawned_by={"type": ["integer", "null"], "description": "the id of the planner that spawned it; null: none"},
    usage=USAGE,
)
AGENT = obj(
    "Agent",
    **AGENT_SUMMARY["properties"],
    task=obj(id=INTEGER, title=STRING),
    budget=obj(
        **BUDGET["properties"],
        used=obj(time=NUMBER, tokens=NUMBER, cost=NUMBER),
        used_up={
            **STRING,
            "description": 'the budget used up ("tokens budget used up", or "the planner Pat\'s tree used its tokens'
            ' budget": a planner\'s tree, it and every agent below it, spends no more than the planner has); "":'
            " some of each is left",
        },
        grant_to={
            "type": ["object", "null"],
            "description": "{id, name}: the planner whose budget a grant to this agent raises (its tree's budget"
            " stopped it); null: its own",
        },
    ),
    files_read=STRINGS,
    files_edited=STRINGS,
    role={**STRING, "description": "worker or planner"},
    parent={"type": ["object", "null"], "description": "the planner that spawned it: {id, name}"},
    subtask={"type": ["object", "null"], "description": "a spawned agent's own spec: goal, acceptance, verify_command"},
    handoff={**STRING, "description": "written at submit: what changed, was verified, is left, is unsure"},
    cycle={**INTEGER, "description": "a planner's cycle (each starts from a fresh context)"},
    created_at=STRING,
    started_at=TIME,
    finished_at=TIME,
)
AGENT_DETAIL = {  # the Agent, and what a message to it would do now (the agent page's message form)
    "allOf": [
        AGENT,
        obj(
            message_offer=obj(
                when={
                    "type": "string",
                    "enum": ["next_step", "after_review", "on_resume", "refused"],
                    "description": "what a plain send does now; refused: it is not sent",
                },
                note={**STRING, "description": "what the agent page says above its message form; empty when working"},
                choices={
                    "type": "array",
                    "description": "the `then` values you may send now (your role's), the default first",
                    "items": obj(then={"type": "string", "enum": ["queue", "resume", "withdraw"]}, label=STRING),
                },
            )
        ),
    ]
}
TASK_SUMMARY = obj(
    "TaskSummary",
    id=INTEGER,
    title=STRING,
    repo=obj(id=INTEGER, name=STRING),
    created_at=STRING,
    launched_at=TIME,
    agents_by_status={"type": "object", "additionalProperties": INTEGER},
)
TASK = obj(
    "Task",
    **TASK_SUMMARY["properties"],
    goal=STRING,
    context=STRING,
    acceptance=STRINGS,
    verify_command=STRING,
    budget=BUDGET,
    roster={"type": "array", "items": obj(name=STRING, model=STRING)},
    best_of_n={"type": "boolean", "description": "every agent attempts the same spec; approving one closes the others"},
    planner={
        **obj(model=STRING, workers=STRINGS, max_workers=INTEGER, max_depth=INTEGER),
        "type": ["object", "null"],
        "description": "the planner launched instead of a roster; null: none",
    },
    taste_guides=STRINGS,
    skills=STRINGS,
    agents={"type": "array", "items": AGENT_SUMMARY},
    usage=obj(tokens=INTEGER, cost_usd=NUMBER, steps=INTEGER),
)
EVENT = obj("Event", seq=INTEGER, kind=STRING, payload={"type": "object"}, created_at=STRING)
EVENT["properties"]["message_state"] = {"type": "string", "description": "kind=message only: queued/delivered/answered"}
EVENTS = obj(
    events={"type": "array", "items": EVENT},
    next_after={"type": "integer", "description": "pass as ?after= to get the following page"},
    more={"type": "boolean"},
)
MESSAGE = obj(
    "Message",
    id=INTEGER,
    agent=INTEGER,
    text=STRING,
    mode=STRING,
    state={"type": "string", "enum": Message.State.values},
    client_msg_id={"type": ["string", "null"]},
    created_at=STRING,
    delivered_at=TIME,
    answered_at=TIME,
    delivery=obj(
        when={"type": "string", "enum": ["next_step", "after_review", "on_resume"]},
        note={"type": "string", "description": "when the agent reads the message, in a sentence"},
    ),
)
LAUNCHED = obj(task=INTEGER, agents={"type": "array", "items": AGENT_SUMMARY})


NEW_REPO = body(
    ["name"],
    team=TEAM_REF,
    name=text(100, 1),
    path=text(500, 1, description="absolute path of a git repository on the server (or give url)"),
    url=text(
        300, 1, description="clone URL (https, ssh or git://) on a host the operator allows; cloned in the background"
    ),
    credential=text(50, description="with url: one of the operator's git credentials, by name"),
    verify_command=text(500),
)
NEW_PROFILE = body(
    ["name", "model"],
    team=TEAM_REF,
    name=text(100, 1),
    model=text(200, 1, description="litellm model string, e.g. openai/gpt-4o or sim/diligent"),
    api_base=text(300),
    api_key_env=text(100, description="NAME of the environment variable that holds the key, never the key"),
    family=text(50),
    context_window={"type": ["integer", "null"], "minimum": 1, "maximum": MAX_INT},
    input_usd_per_mtok={"type": ["number", "null"], "minimum": 0, "description": "USD per million input tokens"},
    output_usd_per_mtok={"type": ["number", "null"], "minimum": 0, "description": "USD per million output tokens"},
    requests_per_minute={
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_INT,
        "description": "the provider's rate limit, shared by every agent and worker",
    },
    investigates={"type": "boolean", "description": "as a judge: investigate with read-only tools in a checkout"},
)
# a planner launched instead of a roster (the API's task body and the task file's `planner`; rules: clean_planner)
PLANNER = body(
    ["model", "workers"],
    model=text(100, 1, description="the planner's model profile: launched instead of the agents"),
    workers={
        "type": "array",
        "items": text(100, 1),
        "maxItems": 200,
        "description": "profiles the planner may give its workers",
    },
    **{name: {"type": "integer", "description": limit.describe()} for name, limit in PLANNER_LIMITS.items()},
)
NEW_TASK = body(
    ["repo", "title", "goal", "acceptance"],
    team=TEAM_REF,
    repo={"type": ["string", "integer"], "description": "repository name or id"},
    title=text(200, 1),
    goal=text(20_000, 1),
    context=text(20_000),
    acceptance={"type": "array", "items": text(2_000), "maxItems": 200},
    verify_command=text(500),
    agents={
        "type": "array",
        "maxItems": 1000,
        "items": body(["name", "model"], name=text(40, 1), model=text(100, 1, description="model profile name")),
    },
    budget=body(
        [],
        minutes={"type": "integer", "minimum": 1, "maximum": MAX_INT},
        tokens={"type": "integer", "minimum": 1, "maximum": MAX_INT},
        usd={"type": "number"},
    ),
    taste_guides={"type": "array", "items": text(100), "description": "taste guide names"},
    skills={"type": "array", "items": text(100), "description": "skill names"},
    best_of_n={
        "type": "boolean",
        "description": "every agent attempts the same spec (needs two agents or more): compare the attempts at"
        " /tasks/<id>/compare/; approving one closes the others",
    },
    planner=PLANNER,
)
NEW_MESSAGE = body(
    ["text"],
    text=text(20_000, 1),
    mode={"type": "string", "enum": Message.Mode.values},
    client_msg_id=text(64, 1, description="your id for this message: sending it again returns the same message"),
    then={
        "type": "string",
        "enum": ["queue", "resume", "withdraw"],
        "description": "queue (default): delivered at the next step, or when a waiting agent resumes; resume: resume a"
        " paused, errored or stopped agent with it; withdraw: withdraw a submission awaiting review and continue with"
        " it (needs a role that may message and review). A refusal names the field `then` and says why (409).",
    },
)
TASK_CHANGE = body([], **{k: v for k, v in NEW_TASK["properties"].items() if k != "team"})
DELETED = obj(id=INTEGER, title=STRING, deleted=BOOLEAN)
