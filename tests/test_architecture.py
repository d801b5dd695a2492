"""The shape of the code, checked: which module may import which, no import cycles, no oversized modules.

No import cycle at all, through imports inside functions too. The other rules have an explicit allowlist of the
violations main had when the rule was written (issue 8): a new violation fails the test, and so does an
allowlisted one that is gone, so the lists only ever shrink. Every module is read with `ast` (nothing is
imported), including imports inside functions.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("agents", "judges", "notifications", "swarm_web")
SIZE_CHECKED = (*APPS, "benchmarks", "tests", "swarm_cli")
MAX_LINES = 400

# agents must not import judges (judges may use agents). Pairs of (importing module, imported module).
KNOWN_AGENTS_TO_JUDGES: set[tuple[str, str]] = set()
# Nor reach into judges' tables through an ORM lookup on a relation judges defines (`agents__verdicts__status`).
# Pairs of (module, related name).
KNOWN_AGENTS_TO_JUDGES_LOOKUPS: set[tuple[str, str]] = set()

# Modules over MAX_LINES today (migrations are never checked); the list may only shrink.
KNOWN_OVERSIZED: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every import statement in the file.

    `from a import b` names the module `a.b` when that is a module, else `a` (b is an attribute of it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(child, name, path.name == "__init__.py")
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.append((candidate if candidate in known else base, top))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _type_checking_only(child):
                visit(child, False)
            else:
                visit(child, top)

    visit(tree, True)
    project = []
    for target, top in found:
        # `import agents.sandbox.mounts` (or a name inside a module): the longest project module it names
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            project.append((target, top))
    return project


@cache
def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, every edge including imports inside functions)."""
    modules = app_modules()
    known = set(modules)
    top_level: dict[str, set[str]] = {name: set() for name in modules}
    every: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, top in imports_of(name, path, known):
            every[name].add(target)
            if top:
                top_level[name].add(target)
    return top_level, every


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def cycle_edges_of(graph: dict[str, set[str]], component: set[str]) -> set[tuple[str, str]]:
    return {(a, b) for a in component for b in graph[a] if b in component}


def cycle_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    edges = set()
    for component in cycles(graph):
        edges |= cycle_edges_of(graph, component)
    return edges


def _report(title: str, new: set, gone: set, known: set) -> str:
    lines = [title]
    if new:
        lines += ["  new (fix these):"] + [f"    {item}" for item in sorted(new)]
    if gone:
        lines += ["  fixed (remove them from the allowlist):"] + [f"    {item}" for item in sorted(gone)]
    lines += [f"  allowlisted today: {len(known)}"]
    return "\n".join(lines)


# --- the walker itself: it must see what a reader sees


def test_the_walker_sees_imports_inside_functions_and_relative_imports():
    top_level, every = import_graph()
    assert "agents.sandbox" in every["judges.panel"]  # `from agents import sandbox` inside a function
    assert "agents.sandbox" not in top_level["judges.panel"]
    assert "agents.sandbox.execute" in top_level["agents.sandbox"]
    assert "agents.models" in top_level["agents.services"]


def test_the_cycle_finder_finds_a_cycle_and_only_its_edges():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycle_edges(graph) == {("a", "b"), ("b", "c"), ("c", "a")}


# --- the rules


def test_agents_never_import_judges():
    _, every = import_graph()
    found = {
        (a, b) for a, targets in every.items() for b in targets if a.startswith("agents") and b.startswith("judges")
    }
    print(_report("agents -> judges imports", found - KNOWN_AGENTS_TO_JUDGES, set(), KNOWN_AGENTS_TO_JUDGES))
    assert found <= KNOWN_AGENTS_TO_JUDGES, _report(
        "agents must not import judges", found - KNOWN_AGENTS_TO_JUDGES, set(), KNOWN_AGENTS_TO_JUDGES
    )
    assert found >= KNOWN_AGENTS_TO_JUDGES, _report(
        "agents -> judges", set(), KNOWN_AGENTS_TO_JUDGES - found, KNOWN_AGENTS_TO_JUDGES
    )


def test_notifications_only_listen():
    """Notifications hear of the work through agents.signals; neither the work nor its review imports them."""
    _, every = import_graph()
    found = {
        (a, b)
        for a, targets in every.items()
        for b in targets
        if a.startswith(("agents", "judges")) and b.startswith("notifications")
    }
    assert found == set(), f"agents and judges must not import notifications: {sorted(found)}"
    assert any(b.startswith("agents") for b in every["notifications.receivers"])  # the walker reads the app


def _is_views(module: str) -> bool:
    return module.rpartition(".")[2].endswith("views")


def test_no_view_module_imports_another():
    """What pages share (the scoped get, the current team) lives in agents/permissions.py and agents/teams.py."""
    _, every = import_graph()
    found = {(a, b) for a, targets in every.items() for b in targets if _is_views(a) and _is_views(b) and a != b}
    assert {"agents.views", "agents.fleet_views", "judges.views"} <= {m for m in every if _is_views(m)}
    assert not found, f"views import other views; share through a module of helpers: {sorted(found)}"


def judges_related_names() -> set[str]:
    """The reverse names judges' models give the relations they add to other models (`related_name=`)."""
    tree = ast.parse((ROOT / "judges" / "models.py").read_text())
    return {
        kw.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "related_name" and isinstance(kw.value, ast.Constant)
    }


LOOKUP = re.compile(r"^[a-z][a-z0-9_]*$")


def lookups_in(path: Path) -> set[str]:
    """Every ORM lookup-like name the module passes to a call: keyword names (`agents__verdicts__status=`) and
    string arguments (`Count("agents__verdicts")`), split into their `__` parts."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        names |= {kw.arg for kw in node.keywords if kw.arg}
        names |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return {part for name in names if LOOKUP.match(name) for part in name.split("__")}


def test_agents_never_query_through_a_relation_judges_define():
    related = judges_related_names()
    assert {"verdicts", "reviews"} <= related  # the walker reads judges' models
    found = {
        (name, part)
        for name, path in app_modules().items()
        if name.startswith("agents")
        for part in lookups_in(path) & related
    }
    known = KNOWN_AGENTS_TO_JUDGES_LOOKUPS
    print(_report("agents -> judges ORM lookups", found - known, set(), known))
    assert found <= known, _report("agents must not query judges' relations", found - known, set(), known)
    assert found >= known, _report("agents -> judges ORM lookups", set(), known - found, known)


def test_no_import_cycle_among_the_apps_modules_even_through_imports_inside_functions():
    # an import deferred into a function still ties the modules together (and hides the cycle from Python at
    # import time, not from a reader): no allowlist
    _, every = import_graph()
    found = cycles(every)
    assert not found, "import cycles among:\n" + "\n".join(
        ", ".join(sorted(component))
        + "\n  "
        + ", ".join(f"{a} -> {b}" for a, b in sorted(cycle_edges_of(every, component)))
        for component in found
    )


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_scheduling_reaches_neither_the_runtime_nor_the_services():
    """The step is registered by dotted path from the agents app, never named by scheduling itself."""
    _, every = import_graph()
    modules = app_modules()
    scheduling = sorted(
        name for name in modules if name == "agents.scheduling" or name.startswith("agents.scheduling.")
    )
    assert {"agents.scheduling", "agents.scheduling.embedded", "agents.scheduling.celery"} <= set(scheduling)
    forbidden = {"agents.runtime", "agents.services"}
    for name in scheduling:
        assert not reachable(every, name) & forbidden, f"{name} imports the runtime or the services"
        strings = {
            node.value
            for node in ast.walk(ast.parse(modules[name].read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        assert not {text for text in strings if any(text.startswith(f) for f in forbidden)}, f"{name} names them"


def test_no_module_is_over_400_lines_except_migrations():
    sizes = {}
    for top in SIZE_CHECKED:
        for path in (ROOT / top).rglob("*.py"):
            # vendored third-party code (benchmarks/data) is kept as it is upstream
            if "migrations" not in path.parts and "data" not in path.relative_to(ROOT).parts[1:2]:
                sizes[str(path.relative_to(ROOT))] = len(path.read_text().splitlines())
    over = {path for path, lines in sizes.items() if lines > MAX_LINES}
    for path in sorted(over):
        print(f"{path}: {sizes[path]} lines")
    assert over <= KNOWN_OVERSIZED, _report(f"modules over {MAX_LINES} lines", over - KNOWN_OVERSIZED, set(), over)
    assert over >= KNOWN_OVERSIZED, _report(
        f"modules over {MAX_LINES} lines", set(), KNOWN_OVERSIZED - over, KNOWN_OVERSIZED
    )


# --- team scoping: written once, in agents.models.TeamQuerySet (`for_user`, `in_team`)

TEAM_PARTS = {"team", "team_id"}
SCOPING_CALLS = {"filter", "get"}  # `exclude(team=...)` is not scoping: it names one team to leave out


def own_team_filters(path: Path) -> set[str]:
    """`filter(team=...)`, `get(task__team_id=...)`: lookups through a team a module writes itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SCOPING_CALLS:
            found |= {kw.arg for kw in node.keywords if kw.arg and TEAM_PARTS & set(kw.arg.split("__"))}
    return found


def test_the_walker_finds_a_team_filter_written_by_hand(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("Skill.objects.filter(team_id=1, name='x')\nVerdict.objects.get(agent__task__team=t)\n")
    assert own_team_filters(module) == {"team_id", "agent__task__team"}
    module.write_text("Repository.objects.filter(path=p).exclude(team=t)\nSkill.objects.in_team(t).filter(name='x')\n")
    assert own_team_filters(module) == set()


def test_every_module_scopes_by_team_through_the_team_queryset():
    found = {
        (name, lookup)
        for name, path in app_modules().items()
        if name != "agents.models"  # the one home
        for lookup in own_team_filters(path)
    }
    assert not found, "use Model.objects.for_user(user) or .in_team(team) instead of:\n" + "\n".join(
        f"  {name}: {lookup}=" for name, lookup in sorted(found)
    )


def test_the_cli_talks_to_the_api_only_and_imports_nothing_of_the_server():
    """swarm_cli runs wherever the venv's Python does, with a token: never Django, never the apps' code."""
    server = ("django", "channels", "celery", "litellm", *APPS, "tests", "benchmarks")
    found = set()
    for path in sorted((ROOT / "swarm_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            found |= {(path.name, n) for n in names if n.split(".")[0] in server}
    assert not found, found
