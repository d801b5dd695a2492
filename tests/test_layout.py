"""Where code lives, checked: both apps' APIs in the same three modules, and the tests' own layout (each fixture
in one module, no test module borrowing another's private helpers, every browser page watched).

Like tests/test_architecture.py, it reads the code with `ast` or as text and imports nothing it checks.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --- one layout for both apps' APIs: handlers in api.py, shapes in api_schemas.py, routes in api_urls.py

API_APPS = ("agents", "judges")
DECLARES_ROUTES = re.compile(r"\b(Route|Operation)\(|^(ROUTES|urlpatterns)\b", re.M)
BUILDS_SCHEMAS = re.compile(r"\b(obj|body|listing)\(")  # agents/api_base.py's schema helpers


def test_each_apps_api_has_handlers_schemas_and_routes_in_their_own_modules():
    urls = (ROOT / "swarm_web" / "urls.py").read_text()
    for app in API_APPS:
        handlers, schemas, routes = ((ROOT / app / f"{m}.py").read_text() for m in ("api", "api_schemas", "api_urls"))
        assert re.search(r"^ROUTES = \[", routes, re.M) and re.search(r"^urlpatterns = ", routes, re.M), app
        assert f'include("{app}.api_urls")' in urls, f"swarm_web/urls.py includes {app}'s route table"
        assert not DECLARES_ROUTES.search(handlers) and not DECLARES_ROUTES.search(schemas), f"{app}: routes elsewhere"
        assert not BUILDS_SCHEMAS.search(handlers), f"{app}/api.py builds schemas: they go in {app}/api_schemas.py"


# --- the tests' own layout: a fixture or helper has one home, and no test module borrows another's privates

TEST_ROOT = ROOT / "tests"


@cache
def sources_of_tests() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted(TEST_ROOT.rglob("*.py"))}


@cache
def parsed(source: str) -> ast.Module:
    return ast.parse(source)


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def fixtures_in(source: str) -> set[str]:
    """Names of the fixtures a module defines (`@pytest.fixture`, with or without arguments, `name=` honoured)."""
    names = set()
    for node in ast.walk(parsed(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in filter(_is_fixture, node.decorator_list):
                renamed = [
                    kw.value.value
                    for kw in getattr(decorator, "keywords", [])
                    if kw.arg == "name" and isinstance(kw.value, ast.Constant)
                ]
                names.add(renamed[0] if renamed else node.name)
    return names


def imports_from_tests(source: str) -> list[tuple[str, str]]:
    """(module, name) for every `from tests.x import name` (or `from benchmarks.x import name`: a harness the tests
    share) in a module."""
    return [
        (node.module, alias.name)
        for node in ast.walk(parsed(source))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"tests", "benchmarks"}
        for alias in node.names
    ]


def _module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def fixture_homes(sources: dict[str, str]) -> dict[str, set[str]]:
    """Fixture name -> the modules it is defined in, counting a module that imports it from another (pytest then
    registers it there too)."""
    defined = {_module_of(path): fixtures_in(source) for path, source in sources.items()}
    homes: dict[str, set[str]] = {}
    for module, names in defined.items():
        for name in names:
            homes.setdefault(name, set()).add(module)
    for path, source in sources.items():
        for module, name in imports_from_tests(source):
            if name in defined.get(module, ()):
                homes[name].add(_module_of(path))
    return homes


def private_borrowings(sources: dict[str, str]) -> set[tuple[str, str, str]]:
    """(importing module, imported module, name) for every private name a tests module takes from another."""
    return {
        (_module_of(path), module, name)
        for path, source in sources.items()
        for module, name in imports_from_tests(source)
        if name.startswith("_") and module != _module_of(path)
    }


def test_the_fixture_finder_sees_every_way_a_fixture_is_defined_or_imported():
    sources = {
        "tests/a.py": "import pytest\n@pytest.fixture\ndef one(): ...\n@pytest.fixture(scope='module')\ndef two(): ...",
        "tests/b.py": "from pytest import fixture\n@fixture(name='three')\ndef _three(): ...\ndef plain(): ...",
        "tests/test_c.py": "from tests.a import one, _hidden\n@pytest.fixture\ndef two(): ...",
        "tests/test_d.py": "from benchmarks.fleet import _private, public",
    }
    assert fixture_homes(sources) == {
        "one": {"tests.a", "tests.test_c"},
        "two": {"tests.a", "tests.test_c"},
        "three": {"tests.b"},
    }
    assert private_borrowings(sources) == {
        ("tests.test_c", "tests.a", "_hidden"),
        ("tests.test_d", "benchmarks.fleet", "_private"),
    }
    real = fixture_homes(sources_of_tests())
    assert real["demo"] == {"tests.conftest"} and real["browser"] == {"tests.browser"}


def test_each_fixture_is_defined_in_one_module():
    twice = {name: sorted(homes) for name, homes in fixture_homes(sources_of_tests()).items() if len(homes) > 1}
    assert not twice, "fixtures defined (or imported) in more than one module; give each one home:\n" + "\n".join(
        f"  {name}: {', '.join(homes)}" for name, homes in sorted(twice.items())
    )


def test_no_test_module_imports_another_modules_private_names():
    found = private_borrowings(sources_of_tests())
    assert not found, (
        "private names borrowed; move them to a helper module (tests/factories.py, tests/browser.py):\n"
        + ("\n".join(f"  {a} imports {name} from {b}" for a, b, name in sorted(found)))
    )


def test_browser_contexts_are_opened_only_by_the_watched_session():
    """A context opened elsewhere would have pages whose console errors and failed requests nobody checks."""
    found = {
        path
        for path, source in sources_of_tests().items()
        if path != "tests/browser.py"
        for node in ast.walk(parsed(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (
            node.func.attr == "new_context"
            or (node.func.attr == "new_page" and ast.unparse(node.func.value) == "browser")
        )
    }
    assert not found, f"open browser pages with tests.browser.session(...): {sorted(found)}"
