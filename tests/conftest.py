from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from agents import inflight, scheduling, services, teams, worktrees
from agents.models import Agent, Membership, ModelProfile, Repository, Skill, TaskSpec, TasteGuide
from judges.models import Verdict
from notifications.models import Webhook
from tests import factories
from tests.api_client import Api, issue_token
from tests.openai_server import OpenAIServer

# fixtures that live with the rest of their helpers: `browser` and `live_app`; the sandbox's `trees`;
# `fresh_channel_layer`
pytest_plugins = ["tests.browser", "tests.sandboxes", "tests.sockets"]


@pytest.fixture(autouse=True)
def fresh_caps():
    """No socket open and no write counted for anyone: user ids repeat from one test to the next. Forgets the counts
    of this process and those under the tests' own prefix in Redis."""
    from django.conf import settings

    from swarm_web import caps, redis_clients

    with caps._memory.lock:
        caps._memory.slots.clear()
        caps._memory.writes.clear()
    client = redis_clients.sync_client(caps.REDIS_TIMEOUT)
    if client is not None:
        keys = list(client.scan_iter(match=f"{settings.SWARM_CAPS_PREFIX}*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture
def demo(transactional_db):
    """The seeded demo team and its task (8 named simulated agents)."""
    return factories.demo_team()


@pytest.fixture
def alice(demo):
    # operator: writes and launches tasks, talks to agents, stops them, grants budget; cannot approve
    return factories.make_user("alice", demo[0], "operator")


@pytest.fixture
def bob(demo):
    # teammate and reviewer: approves and rejects work; cannot launch or message agents
    return factories.make_user("bob", demo[0], "reviewer")


@pytest.fixture
def victor(demo):
    # teammate and viewer: sees everything of the team, changes nothing
    return factories.make_user("victor", demo[0], "viewer")


@pytest.fixture
def adele(demo):
    # the team's admin: everything above, plus members, invitations, repositories, model profiles and policies
    return factories.make_user("adele", demo[0], "admin")


@pytest.fixture
def mallory(transactional_db):
    # another team (her team's admin): must see none of the demo team's objects
    other, _ = factories.demo_team("Other team")
    return factories.make_user("mallory", other, "admin")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def adele_client(client, adele):
    # adele, the team's admin: adds repositories and model profiles
    client.force_login(adele)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def api(client, alice):
    # alice, the operator, with an API token of her own
    return Api(client, issue_token("alice"))


@pytest.fixture
def admin_api(client, adele):
    # adele, the team's admin: the only role that adds repositories and model profiles
    return Api(client, issue_token("adele"))


@pytest.fixture
def mallory_api(client, mallory):
    # mallory, of another team, with a perfectly valid token
    return Api(client, issue_token("mallory"))


@pytest.fixture
def launched(demo):
    """The demo task launched: its eight agents by name, running."""
    _, task = demo
    return {a.name: a for a in services.launch_task(task)}


@pytest.fixture
def server():
    """The local server that speaks the OpenAI chat-completions protocol; tests script its answers."""
    with OpenAIServer() as running:
        yield running


@pytest.fixture
def model_key(monkeypatch):
    """The key the test server's profile reads (tests/real_models.py: SWARM_TEST_KEY)."""
    monkeypatch.setenv("SWARM_TEST_KEY", "test-key-for-the-local-model-server")


@pytest.fixture
def quick_retries(settings):
    """Model calls that give up fast: two retries, short backoffs and a 5 s timeout (tests/test_llm*.py)."""
    settings.SWARM_LLM_RETRIES = 2
    settings.SWARM_LLM_BACKOFF = 0.01
    settings.SWARM_LLM_BACKOFF_MAX = 0.05
    settings.SWARM_LLM_TIMEOUT = 5
    settings.SWARM_LLM_STREAM = True


@pytest.fixture
def canary(monkeypatch):
    """A fresh secret as the value of every key variable a test model profile may read: it must never show."""
    value = f"canary-{secrets.token_hex(12)}"
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "SWARM_TEST_KEY"):
        monkeypatch.setenv(name, value)
    return value


@pytest.fixture
def alices_things(demo, alice, bob, victor, adele):
    """Alice's team: a launched task, a task not yet launched, a taste guide, a pending verdict, an open
    invitation and a spare member."""
    team, task = demo
    agents = services.launch_task(task)
    linus = next(a for a in agents if a.name == "Linus")
    (Path(linus.worktree) / "NOTES.md").write_text("mean() looks fine to me\n")
    sha = worktrees.commit_all(linus.worktree, "Linus: notes")
    verdict = Verdict.objects.create(
        agent=linus,
        commit_sha=sha,
        recommendation=Verdict.Recommendation.APPROVE,
        reasons=["tests pass"],
        diff=worktrees.diff(linus.worktree, linus.base_commit, sha),
    )
    services.set_status(linus.pk, Agent.Status.AWAITING_REVIEW, "submitted: waiting for a person")
    fresh = TaskSpec.objects.create(
        team=team,
        repo=task.repo,
        title="Add median()",
        goal="Add median() to mathutil.",
        acceptance=["median([1, 3, 2]) == 2"],
        roster=[{"name": "Zed", "profile": "sim-diligent"}],
    )
    invite, _ = teams.create_invite(adele, team.pk, Membership.Role.VIEWER)
    spare = factories.make_user("sam", team, Membership.Role.VIEWER)
    # a repository and a model profile nothing uses yet: the admin may edit and delete them
    spare_repo = Repository.objects.create(team=team, name="spare", path=task.repo.path)
    spare_profile = ModelProfile.objects.create(team=team, name="spare-model", model="sim/diligent")
    webhook = Webhook.objects.create(team=team, name="ops", url="http://127.0.0.1:9/hook", secret="whsec_test")
    return {
        "task": task.pk,
        "fresh_task": fresh.pk,
        "agent": agents[0].pk,
        "guide": TasteGuide.objects.get(team=team).pk,
        "skill": Skill.objects.in_team(team).get(name="small-diff").pk,
        "verdict": verdict.pk,
        "invite": invite.pk,
        "membership": Membership.objects.get(user=spare).pk,
        "repo": spare_repo.pk,
        "profile": spare_profile.pk,
        "webhook": webhook.pk,
    }


# --- pytest-xdist (`make test` runs `-n 2 --dist loadgroup`) -------------------------------------------------------
# Which tests share a worker, and which start first. Nothing here changes what a test does; run without -n, only the
# order of the tests changes.


def pytest_itemcollected(item):
    """Tests that must not run beside one another get one xdist group, so one worker runs them in turn:
    - every `distributed` test: they share the one Redis server, whose pub/sub channels ignore the database number,
      so a page in one deployment would get the events of another's agents with the same ids;
    - the tests of a module that shares a module-scoped fixture of its own (an app started once, a repository): each
      worker would start its own copy."""
    if item.get_closest_marker("distributed"):
        item.add_marker(pytest.mark.xdist_group("distributed"))
        return
    module = item.getparent(pytest.Module)
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info and module else ():
        if any(d.scope == "module" and d.baseid == module.nodeid for d in defs):
            item.add_marker(pytest.mark.xdist_group(module.nodeid))
            return


@pytest.hookimpl(trylast=True)  # after pytest-django's ordering and xdist's naming of groups
def pytest_collection_modifyitems(config, items):
    """Under xdist, the longest tests first, so that no worker is left with one of them at the end while the other
    idles: the `distributed` group, then the tests that declare a long timeout (longest first), then the rest."""
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: the order stays as it was
    for item in items:
        # pytest-xdist 3.8 names a test's group (`nodeid@group`) in item._nodeid, which pytest 9.2 no longer reads
        # (its node id is item._id): without this, --dist loadgroup sends a group's tests to different workers
        grouped = vars(item).get("_nodeid")
        if grouped and grouped != item.nodeid:
            item._id = type(item._id).parse(grouped)

    def cost(item) -> tuple[int, float]:
        timeout = item.get_closest_marker("timeout")
        seconds = (timeout.args[0] if timeout.args else timeout.kwargs.get("timeout", 0)) if timeout else 0
        return (0 if item.get_closest_marker("distributed") else 1, -seconds)

    items.sort(key=cost)


@pytest.fixture
def embedded(settings):
    """The embedded scheduler as this process's backend, as `make run` has it but with one step thread (a wait that
    held it would show); afterwards every agent is stopped and nothing of theirs still runs."""
    path = "agents.scheduling.embedded.EmbeddedScheduler"
    settings.SWARM_SCHEDULER = path
    settings.SWARM_MAX_PARALLEL_STEPS = 1
    scheduling._backends.pop(path, None)
    backend = scheduling.backend()
    yield backend
    Agent.objects.exclude(status__in=Agent.FINISHED).update(status=Agent.Status.STOPPED)  # what is due runs no step
    assert backend.wait_idle(120), "steps or jobs still running long after their agents stopped"
    assert inflight.drain(120), "model calls still in flight long after their agents stopped"
    scheduling._backends.pop(path, None)


@pytest.fixture(autouse=True)
def _no_overview_frames_across_tests():
    """Overview cards a test left pending are dropped when it ends: its database is gone, and the next test's pages
    never showed them."""
    yield
    from agents import live_send

    for coalescer in live_send._coalescers:
        coalescer.drop_pending()
