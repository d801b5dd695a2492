"""What ran: the verify command, run in the sandbox with a per-test report, on the submitted commit and on its base
commit (once per repository, base and command: `BaseRun`), then compared.

A green verify command proves little when the submission changed which tests run. Tests that ran at the base and
no longer run (skipped, xfailed, deselected, ignored, renamed, removed, by a marker, the configuration or anything
the command calls), and failing tests that pass only once their own code changed, become flags: named in the
verdict's reasons, and a flagged verdict is never recommended for approval (`models.tests_flagged`).

Per-test outcomes come from pytest's JUnit-XML report, asked for through PYTEST_ADDOPTS: it reaches pytest
however the command starts it (`python -m pytest`, `make test`, a script) and leaves the command itself, which
is the repository's, as it is. A command that runs no pytest writes no report on either side, and nothing is
compared (the evidence says so). A command that runs pytest several times keeps the last run's report only.
The report is written by code under test, so a conftest.py could forge it: that file is a sensitive path.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
from pathlib import Path

from agents import sandbox, worktrees
from agents.models import Agent
from judges import testreport
from judges.models import BaseRun

MAX_SOURCE = 1 << 20


def run(checkout: Path, command: str) -> tuple[dict, dict[str, str] | None]:
    """The command's result (CommandResult.as_dict) and its tests' outcomes (None: no pytest report was written)."""
    report = Path(checkout) / f".swarm-report-{secrets.token_hex(6)}.xml"
    options = f"--junitxml={shlex.quote(str(report))} -o junit_logging=no"
    result = sandbox.run(checkout, command, env={"PYTEST_ADDOPTS": options}).as_dict()
    text = testreport.read_report(report)
    report.unlink(missing_ok=True)  # a criterion check run next in this checkout sees what the commit holds
    return result, (testreport.outcomes(text) if text is not None else None)


def base_tests(agent: Agent, command: str, repo_dir: str) -> tuple[dict[str, str] | None, bool]:
    """The base commit's test outcomes, and whether they were cached. Run in the same sandbox as the submission's:
    the base commit is repository content too."""
    digest = hashlib.sha256(command.encode()).hexdigest()
    key = {"repository_id": agent.task.repo_id, "base_commit": agent.base_commit, "command_digest": digest}
    cached = BaseRun.objects.filter(**key).first()
    if cached is not None:
        return cached.tests, True
    # named by the agent's id: agents of other tasks on this base may be verified at the same time, in this process
    with worktrees.detached(repo_dir, agent.base_commit, f"base-{agent.pk}-{agent.name}") as checkout:
        result, tests = run(checkout, command)
    if not result["timed_out"]:  # a base cut short may finish next time
        # get_or_create: another verification of the same base may have stored it meanwhile
        fields = {"command": command, "exit_code": result["exit_code"], "tests": tests, "seconds": result["seconds"]}
        BaseRun.objects.get_or_create(**key, defaults=fields)
    return tests, False


def compare_with_base(
    agent: Agent, commit_sha: str, command: str, tests: dict[str, str] | None, repo_dir: str, changed: list[str]
) -> dict:
    """The evidence's `test_comparison` and `test_flags` for a submission whose verify command passed."""
    try:
        before, cached = base_tests(agent, command, repo_dir)
    except (sandbox.SandboxUnavailable, worktrees.GitError) as exc:
        return _unavailable(f"the base commit could not be run: {exc}")
    if before is None:
        return _unavailable("the verify command wrote no pytest report at the base commit (only pytest is compared)")
    summary = {"base_commit": agent.base_commit, "base_cached": cached, "base": testreport.counts(before)}
    if tests is None:
        flag = (
            f"the base commit's run reported {len(before)} tests and the submission's run reported none: the test"
            " run itself was changed or narrowed"
        )
        return {"test_comparison": {**summary, "compared": False, "why": flag}, "test_flags": [flag]}
    found = testreport.compare(before, tests)

    def source_at(side: str, path: str) -> str | None:
        try:
            text = worktrees.git(repo_dir, "show", f"{agent.base_commit if side == 'base' else commit_sha}:{path}")
        except worktrees.GitError:
            return None
        return text if len(text) <= MAX_SOURCE else None

    rewritten = testreport.changed_to_pass(found["now_passing"], changed, source_at)
    shown = testreport.SHOWN
    return {
        "test_comparison": {
            **summary,
            "compared": True,
            "submission": testreport.counts(tests),
            "stopped_running": found["stopped"][:shown],
            "stopped_running_count": len(found["stopped"]),
            "now_passing": found["now_passing"][:shown],
            "changed_to_pass": rewritten[:shown],
            "new_tests": found["new"][:shown],
            "new_tests_count": len(found["new"]),
        },
        "test_flags": testreport.flags(found, rewritten),
    }


def _unavailable(why: str) -> dict:
    return {"test_comparison": {"compared": False, "why": why}, "test_flags": []}
