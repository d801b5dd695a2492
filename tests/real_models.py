"""Models on the local OpenAI-protocol server (tests/openai_server.py): the test models litellm is told about (their
prices and context window), a profile that points at the server, and a task with one agent on it."""

from __future__ import annotations

from agents import llm, services
from agents.models import Agent, ModelProfile, TaskSpec

INPUT_PRICE, OUTPUT_PRICE = 1e-6, 2e-6
llm.register_models(
    {
        "openai/test-model": {
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            "max_input_tokens": 8000,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": True,
        },
        "openai/plain-model": {
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_function_calling": False,
        },
    }
)


def profile_for(server, model: str = "openai/test-model", team=None) -> ModelProfile:
    profile = ModelProfile(
        name="test-openai", model=model, api_base=server.base_url, api_key_env="SWARM_TEST_KEY", family="test"
    )
    if team is not None:
        profile.team = team
        profile.save()
    return profile


def task_on(demo, server, name: str = "Hopper", **fields) -> TaskSpec:
    """A task on the demo repository with one agent, `name`, on the test server's model; `fields` set the task's own
    (title, verify command, budgets)."""
    team, demo_task = demo
    profile_for(server, team=team)
    return TaskSpec.objects.create(
        **{
            "team": team,
            "repo": demo_task.repo,
            "title": "Fix mean() with a real model",
            "goal": demo_task.goal,
            "verify_command": "python -m pytest -q",
            "budget_minutes": 30,
            "budget_tokens": 200_000,
            "budget_usd": 2,
            "roster": [{"name": name, "profile": "test-openai"}],
            **fields,
        }
    )


def launch_one(demo, server, name: str = "Hopper") -> Agent:
    """A task on the demo repository with one agent on the test server's model, launched."""
    (agent,) = services.launch_task(task_on(demo, server, name))
    return agent


def messages_for(prompt: str = "Say something.") -> list[dict]:
    return [{"role": "system", "content": "You are Hopper."}, {"role": "user", "content": prompt}]
