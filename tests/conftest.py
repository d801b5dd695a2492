from __future__ import annotations

from pathlib import Path

import pytest

from tests import factories
from tests.live_server import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str):
    """A missing service fails the run in CI (it must be there) and skips it on a developer's machine."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


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
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import Error, sync_playwright

    # module scope: Playwright's event loop must be gone before other modules use the ORM
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield browser
        browser.close()


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
