"""Reading which tests ran: a pytest JUnit-XML report, written inside the sandbox, read by the host; and the
comparison of two runs (the base commit's and the submission's). Pure functions but `read_report`.

Everything here is untrusted repository output: the report is read without following links, capped, refused
when it declares entities, and only test names and outcomes are taken from it.
"""

from __future__ import annotations

import ast
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable

MAX_REPORT = 32 << 20
MAX_TESTS = 50_000
RAN = {"passed", "failed", "error"}  # outcomes of a test that ran; skipped, xfailed and uncollected ones did not
FAILING = {"failed", "error"}
SHOWN = 50  # tests named per list in the evidence


def read_report(path: str | os.PathLike) -> str | None:
    """The report's text, or None: missing, not a plain file (a link, a FIFO, a hard link to something else),
    or too big. The sandboxed command could have put anything at that path."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > MAX_REPORT:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_REPORT).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def outcomes(text: str) -> dict[str, str] | None:
    """{test id: passed | failed | error | skipped | xfailed | uncollected} from a JUnit-XML report, or None when
    it cannot be read. A test id is `classname::name` as pytest writes them (`tests.test_x.TestY::test_z[1]`)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None  # pytest never writes either; entity expansion is how a report would attack the parser
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    found: dict[str, str] = {}
    for case in root.iter("testcase"):
        classname, name = case.get("classname") or "", case.get("name") or ""
        test = f"{classname}::{name}" if classname else name
        found[test] = _worst(found.get(test), _outcome(case))
        if len(found) >= MAX_TESTS:
            break
    return found


def _outcome(case: ET.Element) -> str:
    tags = {child.tag: child for child in case}
    if "error" in tags:
        return "uncollected" if tags["error"].get("message") == "collection failure" else "error"
    if "failure" in tags:
        return "failed"
    if "skipped" in tags:
        return "xfailed" if tags["skipped"].get("type") == "pytest.xfail" else "skipped"
    return "passed"


def _worst(old: str | None, new: str) -> str:
    order = ["passed", "xfailed", "skipped", "uncollected", "failed", "error"]
    return new if old is None or order.index(new) > order.index(old) else old


def compare(before: dict[str, str], after: dict[str, str]) -> dict:
    """What changed between two runs: tests that ran before and do not now (with how they stopped), tests that
    failed before and pass now (a fix, or a test changed to pass), and tests that are new."""
    stopped = [
        {"test": test, "before": was, "after": after.get(test, "not run")}
        # the failing ones first: a failing test that stops running is the telling one
        for test, was in sorted(before.items(), key=lambda item: (item[1] not in FAILING, item[0]))
        if was in RAN and after.get(test) not in RAN
    ]
    now_passing = sorted(test for test, was in before.items() if was in FAILING and after.get(test) == "passed")
    new = sorted(test for test in after if test not in before)
    return {"stopped": stopped, "now_passing": now_passing, "new": new}


def counts(tests: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for outcome in tests.values():
        found[outcome] = found.get(outcome, 0) + 1
    return dict(sorted(found.items()))


# --- did a test that passes now pass because its own code changed?


def locate(test: str, changed: list[str]) -> tuple[str, list[str], str] | None:
    """(changed file, enclosing classes, function) a test id names, when the file is among the changed ones.

    `tests.test_x.TestY::test_z[1]` is `tests/test_x.py`, class TestY, function test_z; the file may sit under
    the repository's root when pytest ran in a subdirectory."""
    classname, _, name = test.rpartition("::")
    parts = [p for p in classname.split(".") if p]
    function = name.split("[", 1)[0]
    for cut in range(len(parts), 0, -1):
        candidate = "/".join(parts[:cut]) + ".py"
        for path in changed:
            if path == candidate or path.endswith("/" + candidate):
                return path, parts[cut:], function
    return None


def code_of_test(source: str, classes: list[str], function: str) -> str | None:
    """The test function as the parser sees it (comments and layout do not count), its decorators included, with
    the module-level values and same-module fixtures it names: what would have to change to make it pass without
    touching the code under test. None: not found, or not Python."""
    try:
        scope: list[ast.stmt] = ast.parse(source).body
    except (SyntaxError, ValueError):
        return None
    module = scope
    for name in classes:
        found = [n for n in scope if isinstance(n, ast.ClassDef) and n.name == name]
        if not found:
            return None
        scope = found[-1].body
    defs = [n for n in scope if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function]
    if not defs:
        return None
    node = defs[-1]
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {a.arg for a in node.args.args}
    parts = [ast.dump(node)]
    for statement in module:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if {t.id for t in targets if isinstance(t, ast.Name)} & used:
                parts.append(ast.dump(statement))
        elif isinstance(statement, ast.FunctionDef) and statement.name in used and statement is not node:
            parts.append(ast.dump(statement))
    return "\n".join(parts)


def changed_to_pass(tests: list[str], changed: list[str], source_at: Callable[[str, str], str | None]) -> list[str]:
    """Of the tests that failed before and pass now, those whose own code changed. `source_at(side, path)` gives
    a file's text at "base" or "head" (None: absent)."""
    found = []
    for test in tests:
        where = locate(test, changed)
        if where is None:
            continue  # its file did not change: the code under test did
        path, classes, function = where
        before = code_of_test(source_at("base", path) or "", classes, function)
        after = code_of_test(source_at("head", path) or "", classes, function)
        if before != after:
            found.append(test)
    return found


def flags(comparison: dict, changed_to_pass: list[str]) -> list[str]:
    """The sentences a verdict's reasons carry, one per test (the first few, then how many more)."""
    found = []
    for row in comparison["stopped"]:
        how = {
            "skipped": "is skipped now",
            "xfailed": "is marked as expected to fail now",
            "uncollected": "cannot be collected now",
            "not run": "does not run now (deselected, ignored, renamed or removed)",
        }[row["after"]]
        found.append(f"`{row['test']}` ran at the base commit ({row['before']}) and {how}")
    for test in changed_to_pass:
        found.append(f"`{test}` failed at the base commit and passes now only after its own test code changed")
    if len(found) > 5:
        found = found[:5] + [f"… and {len(found) - 5} more tests that no longer count"]
    return found
