"""Model keys and model hosts are the operator's choice: a team member's profile reaches nothing else.

Every model call here goes to a real local OpenAI-protocol server. `server` is the one the operator allows (its
port only); `listener` is another server on another port that nobody allowed: it must receive nothing.
"""

from __future__ import annotations

import uuid

import litellm
import pytest

from agents import llm
from agents.models import Agent, ModelProfile
from judges.models import Verdict
from tests import factories
from tests.factories import launch_and_run
from tests.openai_server import OpenAIServer, reply, status
from tests.real_models import launch_one, messages_for

NOT_SET = "SWARM_SURELY_NOT_SET_ANYWHERE"


@pytest.fixture
def listener():
    with OpenAIServer() as running:
        running.script(*[reply("you should not be talking to me")] * 5)
        yield running


@pytest.fixture(autouse=True)
def operator_allows_only_the_server(settings, server, monkeypatch):
    port = server.base_url.rsplit(":", 1)[1].split("/")[0]
    settings.SWARM_MODEL_HOSTS = [f"127.0.0.1:{port}"]
    settings.SWARM_MODEL_KEY_ENVS = ["SWARM_TEST_KEY", "OPENAI_API_KEY"]
    settings.SWARM_LLM_RETRIES = 0
    settings.SWARM_LLM_TIMEOUT = 5
    monkeypatch.setenv("SWARM_TEST_KEY", "allowed-test-key")
    monkeypatch.delenv(NOT_SET, raising=False)


@pytest.fixture
def unlisted_secret(monkeypatch):
    """A secret in a variable the operator did not list for model keys."""
    value = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("SWARM_CANARY_SECRET", value)
    return value


def _profile(base: str, key_env: str = "SWARM_TEST_KEY", model: str = "openai/test-model") -> ModelProfile:
    return ModelProfile(name="p", model=model, api_base=base, api_key_env=key_env, family="test")


def _received(*servers: OpenAIServer) -> str:
    return "\n".join(f"{r.headers} {r.raw}" for s in servers for r in s.requests)


# ---------------------------------------------------------------- key variables


def test_a_key_variable_the_operator_did_not_list_is_refused_alike_whether_it_is_set_or_not(
    admin_api, server, unlisted_secret, settings
):
    answers = {}
    for name in ("SWARM_CANARY_SECRET", NOT_SET):
        response = admin_api.post(
            "/api/models",
            {"name": f"p-{len(answers)}", "model": "openai/m", "api_base": server.base_url, "api_key_env": name},
        )
        assert response.status_code == 400
        assert response.json()["field"] == "api_key_env"
        answers[name] = response.json()["error"]
    assert answers["SWARM_CANARY_SECRET"] == answers[NOT_SET]  # no oracle for which variables exist
    assert "SWARM_MODEL_KEY_ENVS" in answers[NOT_SET] and "SWARM_TEST_KEY" in answers[NOT_SET]
    assert not ModelProfile.objects.filter(name__in=["p-0", "p-1"]).exists()

    # the same refusal at call time, for a profile saved before the operator narrowed the list; nothing is sent
    refusals = []
    for name in ("SWARM_CANARY_SECRET", NOT_SET):
        with pytest.raises(llm.ModelRefused) as refused:
            llm.complete(_profile(server.base_url, key_env=name), messages_for(), [])
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    assert server.requests == []
    assert unlisted_secret not in _received(server) + "".join(refusals)

    # positive control: had the operator listed the variable, its value would have gone out as the Bearer token
    created = admin_api.post(
        "/api/models", {"name": "ok", "model": "openai/m", "api_base": server.base_url, "api_key_env": "SWARM_TEST_KEY"}
    )
    assert created.status_code == 201
    server.script(reply("hi"))
    settings.SWARM_MODEL_KEY_ENVS = ["SWARM_CANARY_SECRET"]
    llm.complete(_profile(server.base_url, key_env="SWARM_CANARY_SECRET"), messages_for(), [])
    assert server.requests[0].headers["authorization"] == f"Bearer {unlisted_secret}"


def test_a_profile_without_a_key_variable_never_gets_a_key_from_the_environment(server, monkeypatch):
    secret = f"env-openai-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    server.script(reply("hi"), reply("hi"))

    llm.complete(_profile(server.base_url, key_env=""), messages_for(), [])
    assert server.requests[0].headers["authorization"] == "Bearer none"

    # positive control: litellm on its own takes OPENAI_API_KEY from the environment for this very call
    litellm.completion(model="openai/test-model", api_base=server.base_url, messages=messages_for(), max_retries=0)
    assert server.requests[1].headers["authorization"] == f"Bearer {secret}"


# ---------------------------------------------------------------- hosts


def test_an_api_base_the_operator_did_not_allow_is_refused_at_creation_in_every_disguise(admin_api, server, listener):
    port = listener.base_url.rsplit(":", 1)[1].split("/")[0]
    allowed = server.base_url.split("//")[1].split("/")[0]
    disguises = [
        listener.base_url,  # another port of an allowed address
        f"http://{allowed}@127.0.0.1:{port}/v1",  # the allowed host as a user name
        f"http://{allowed}:pw@127.0.0.1:{port}/v1",
        f"http://localhost:{port}/v1",
        f"http://127.1:{port}/v1",
        f"http://2130706433:{port}/v1",
        f"http://0x7f.0.0.1:{port}/v1",
        f"http://127.0.0.1.:{port}/v1",
        f"http://[::ffff:127.0.0.1]:{port}/v1",
        f"http://127.0.0.1:{port}\\@{allowed}/v1",
        f"ftp://{allowed}/v1",
        f"http://{allowed}/v1?next=http://127.0.0.1:{port}",
        f"http://{allowed} /v1",
        "http://169.254.169.254/latest/meta-data",
    ]
    for number, base in enumerate(disguises):
        response = admin_api.post("/api/models", {"name": f"bad-{number}", "model": "openai/m", "api_base": base})
        assert response.status_code == 400, base
        assert response.json()["field"] == "api_base", base
    assert not ModelProfile.objects.filter(name__startswith="bad-").exists()
    assert listener.requests == []

    created = admin_api.post("/api/models", {"name": "good", "model": "openai/m", "api_base": server.base_url})
    assert created.status_code == 201  # positive control: the operator's host is accepted
    assert ModelProfile.objects.get(name="good").api_base == server.base_url


def test_a_profile_saved_before_the_operator_narrowed_the_hosts_errors_the_agent_and_sends_nothing(
    demo, listener, settings
):
    agent = launch_one(demo, listener)
    settings.SWARM_MODEL_HOSTS = ["127.0.0.1:*"]  # positive control: while allowed, the step reaches the listener
    factories.run_step(agent.pk)
    assert len(listener.requests) == 1

    settings.SWARM_MODEL_HOSTS = []  # the operator narrows the settings; the profile is still in the database
    Agent.objects.filter(pk=agent.pk).update(status=Agent.Status.RUNNING, lease_expires_at=None)
    factories.run_step(agent.pk)
    agent.refresh_from_db()
    assert agent.status == Agent.Status.ERROR
    assert "is refused" in agent.status_reason and "SWARM_MODEL_HOSTS" in agent.status_reason
    assert len(listener.requests) == 1


def test_an_allowed_host_that_redirects_cannot_send_the_call_on(server, listener, monkeypatch):
    server.script(status(307, "moved", headers={"Location": f"{listener.base_url}/chat/completions"}))
    with pytest.raises(llm.ModelError):
        llm.complete(_profile(server.base_url), messages_for("the secret plan"), [])
    assert len(server.requests) == 1
    assert listener.requests == []

    # positive control: litellm's own client follows the redirect, prompt and all
    monkeypatch.setattr(litellm, "client_session", None)
    server.script(status(307, "moved", headers={"Location": f"{listener.base_url}/chat/completions"}))
    litellm.completion(
        model="openai/test-model",
        api_base=server.base_url,
        api_key="k",
        messages=messages_for("the secret plan"),
        max_retries=0,
    )
    assert "the secret plan" in listener.requests[0].raw


# ---------------------------------------------------------------- providers and the judges


def test_a_provider_is_reached_only_as_the_operator_allows(admin_api):
    cases = [
        ({"model": "ollama/llama3"}, "model"),  # a provider whose endpoint is on this machine
        ({"model": "anthropic/claude-x"}, "api_key_env"),  # litellm would pick ANTHROPIC_API_KEY by itself
        ({"model": "gpt-4o", "api_key_env": "OPENAI_API_KEY"}, "model"),  # no provider named
        ({"model": "sim/diligent", "api_key_env": "OPENAI_API_KEY"}, "api_key_env"),
    ]
    for number, (fields, field) in enumerate(cases):
        response = admin_api.post("/api/models", {"name": f"prov-{number}", **fields})
        assert response.status_code == 400, fields
        assert response.json()["field"] == field, fields
    ok = admin_api.post("/api/models", {"name": "hosted", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"})
    assert ok.status_code == 201


def test_a_judge_whose_profile_is_no_longer_allowed_fails_closed_and_sends_nothing(demo, listener, unlisted_secret):
    _, task = demo
    judge = ModelProfile.objects.create(
        team=task.team,
        name="leaky-judge",
        model="openai/test-model",
        api_base=listener.base_url,
        api_key_env="SWARM_CANARY_SECRET",
        family="test",
    )
    task.judge_profiles.set([judge, ModelProfile.objects.get(team=task.team, name="judge-lenient")])
    task.save()
    (ada,) = launch_and_run(task, [("Ada", "sim-diligent")])
    opinion = Verdict.objects.get(agent=ada).judgements.get(judge="leaky-judge")
    assert opinion.recommendation == "error"
    assert "is refused" in opinion.error
    assert listener.requests == []
    assert unlisted_secret not in opinion.error
