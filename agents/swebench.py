"""SWE-bench instances as tasks: each record (instance_id, repo, base_commit, problem_statement, FAIL_TO_PASS,
PASS_TO_PASS, optional test_patch, from a JSON or JSONL file) becomes a task on the team's repository.

The repository is the team's own, named by the record's `repo` ("owner/name" or "name") or given explicitly; the
base commit must already be in it. Swarm makes the branch swe/<instance_id> at the base commit with the test patch
committed on top, by host git under agents.hostgit's rule (the patch is applied as data, nothing of the repository
runs), and the task starts its agents from that branch and merges approved work into it. The verify command runs
the FAIL_TO_PASS tests; PASS_TO_PASS become an acceptance criterion with its own check command, which the judges run
(judges/panel.criterion_checks) so a fix that breaks them is not approved. The rest of the task (roster, judges,
budgets, policy) comes from the defaults the importer gives, in the task file's format (agents/taskfile.py), and is
saved through it, so every rule of the task page applies.
"""

from __future__ import annotations

import json
import re
import shlex

from agents import hostgit, taskfile, worktrees
from agents.errors import FieldError, ServiceError
from agents.models import Repository, TaskSpec

INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,90}$")
SHA = re.compile(r"^[0-9a-f]{7,40}$")
MAX_INSTANCES = 100
MAX_PATCH = 1 << 20
PYTEST = "python -m pytest -q -p no:cacheprovider"
MAX_COMMAND = 500  # TaskSpec.verify_command's length
MAX_CHECK = 1_900  # a criterion's check command, within the 2,000 characters of a criterion


def parse(text: str) -> list[dict]:
    """The records of a JSON file (one object or a list) or a JSONL file (an object a line), checked."""
    text = text.strip()
    try:
        data = json.loads(text)
        records = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise FieldError("file", f"line {number} is not JSON ({exc.msg}).") from None
    if not records:
        raise FieldError("file", "holds no instance.")
    if len(records) > MAX_INSTANCES:
        raise FieldError("file", f"holds more than {MAX_INSTANCES} instances; import them in parts.")
    return [_instance(record, i) for i, record in enumerate(records)]


def _instance(record, i: int) -> dict:
    where = f"instances[{i}]"
    if not isinstance(record, dict):
        raise FieldError(where, "must be an object.")
    for name in ("instance_id", "repo", "base_commit", "problem_statement", "FAIL_TO_PASS"):
        if not isinstance(record.get(name), str | list) or not record[name]:
            raise FieldError(f"{where}.{name}", "is required.")
    ident = record["instance_id"]
    if not isinstance(ident, str) or not INSTANCE_ID.match(ident) or ".." in ident or ident.endswith((".", ".lock")):
        # it names the branch swe/<instance_id>: git refuses "..", a trailing "." and ".lock"
        raise FieldError(
            f"{where}.instance_id", "must be letters, digits, '.', '_' or '-' (at most 91; no '..', no .lock end)."
        )
    if not isinstance(record["base_commit"], str) or not SHA.match(record["base_commit"]):
        raise FieldError(f"{where}.base_commit", "must be a commit's hexadecimal id.")
    test_patch = record.get("test_patch") or ""
    if not isinstance(test_patch, str) or len(test_patch) > MAX_PATCH:
        raise FieldError(f"{where}.test_patch", f"must be a patch's text of at most {MAX_PATCH:,} characters.")
    return {
        "instance_id": record["instance_id"],
        "repo": str(record["repo"]),
        "base_commit": record["base_commit"],
        "problem_statement": str(record["problem_statement"]),
        "test_patch": test_patch,
        "FAIL_TO_PASS": _tests(record.get("FAIL_TO_PASS"), f"{where}.FAIL_TO_PASS"),
        "PASS_TO_PASS": _tests(record.get("PASS_TO_PASS") or [], f"{where}.PASS_TO_PASS"),
    }


def _tests(value, where: str) -> list[str]:
    """A list of pytest node ids; SWE-bench's own files hold it as a JSON string of a list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise FieldError(where, "must be a list of test ids (or a JSON string of one).") from None
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() and "\0" not in t for t in value):
        raise FieldError(where, "must be a list of test ids.")
    return value


def command(tests: list[str]) -> str:
    """pytest running exactly these node ids, each quoted for the shell (a test id is data, never shell syntax)."""
    return " ".join([PYTEST, *(shlex.quote(t) for t in tests)])


def regression_check(tests: list[str], failing: list[str]) -> str:
    """The PASS_TO_PASS criterion's check command: the tests themselves, or, when they are too many to name in one
    command, their files less the FAIL_TO_PASS tests (a file's other tests then run too)."""
    exact = command(tests)
    if len(exact) <= MAX_CHECK:
        return exact
    files = list(dict.fromkeys(t.split("::")[0] for t in tests))
    return " ".join([command(files), *(f"--deselect {shlex.quote(t)}" for t in failing)])


def repository_for(team, instance: dict, name: str | None) -> Repository:
    """The team's repository the instance names (its `repo`, or the name given), by name or by clone URL."""
    repos = Repository.objects.in_team(team)
    if name:
        found = repos.filter(name=name).first()
        if found is None:
            raise FieldError("repository", "is not a repository of your team.")
        return found
    full = instance["repo"].strip().removesuffix(".git")
    short = full.rsplit("/", 1)[-1]
    for repo in repos.order_by("id"):
        url = repo.url.removesuffix(".git").removesuffix("/")
        if repo.name in {full, short} or (url and url.endswith("/" + full)):
            return repo
    raise FieldError(
        "repository", f"names no repository of your team for {full}: add it first, or name the repository."
    )


def prepare_branch(repo: Repository, instance: dict) -> str:
    """Branch swe/<instance_id> at the base commit with the test patch committed on top; returns the branch.

    An existing branch is kept when it is where this import would put it (an import done again), refused otherwise."""
    branch = f"swe/{instance['instance_id']}"
    try:
        base = hostgit.git(repo.path, "rev-parse", "--verify", "--quiet", f"{instance['base_commit']}^{{commit}}")
    except hostgit.GitError:
        raise FieldError(
            "base_commit", f"{instance['base_commit'][:12]} is not in {repo.name}; fetch it into the repository first."
        ) from None
    base = base.strip()
    head = base
    if instance["test_patch"]:
        head = _commit_patch(repo, base, instance)
    existing = hostgit.git(repo.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip()
    if existing and hostgit.git(repo.path, "rev-parse", f"{existing}^{{tree}}") != hostgit.git(
        repo.path, "rev-parse", f"{head}^{{tree}}"
    ):
        raise ServiceError(f"Branch {branch} already exists in {repo.name} with other content; it is kept.", 409)
    if not existing:
        hostgit.git(repo.path, "branch", branch, head)
    return branch


def _commit_patch(repo: Repository, base: str, instance: dict) -> str:
    """The test patch committed on the base commit in a throwaway worktree (git apply reads it as data)."""
    with worktrees.detached(repo.path, base, f"swe-{instance['instance_id']}") as where:
        try:
            hostgit.git(where, "apply", "--index", "--whitespace=nowarn", "-", input=instance["test_patch"])
        except hostgit.GitError as exc:
            raise FieldError("test_patch", f"does not apply at {base[:12]} (git says: {str(exc)[:300]}).") from None
        message = f"SWE-bench {instance['instance_id']}: test patch"
        hostgit.git(where, "commit", "-q", "--no-verify", "-m", message)
        return hostgit.git(where, "rev-parse", "HEAD").strip()


def as_taskfile(instance: dict, repo: Repository, branch: str, defaults: dict) -> dict:
    """The instance as a task file, the importer's defaults (roster, judges, budgets, ...) filling the rest."""
    verify = command(instance["FAIL_TO_PASS"])
    if len(verify) > MAX_COMMAND:
        raise FieldError("FAIL_TO_PASS", f"names too many tests for one verify command ({MAX_COMMAND} characters).")
    acceptance = [f"These tests pass: {', '.join(instance['FAIL_TO_PASS'])}"[:1_900]]
    if instance["PASS_TO_PASS"]:
        count = len(instance["PASS_TO_PASS"])
        acceptance.append(
            f"The {count} tests that passed before still pass, check: `{regression_check(instance['PASS_TO_PASS'], instance['FAIL_TO_PASS'])}`"
        )
    acceptance.append("No test is weakened, skipped or deleted")
    return {
        **defaults,
        "repository": repo.name,
        "title": f"SWE-bench {instance['instance_id']}"[:200],
        "goal": instance["problem_statement"][:20_000],
        "context": defaults.get("context")
        or f"{instance['repo']} at {instance['base_commit'][:12]}, with the instance's tests on branch {branch}.",
        "acceptance": acceptance,
        "verify": verify,
        "policy": {**defaults.get("policy", {}), "target_branch": branch},
    }


def import_instances(user, team, text: str, defaults: dict, repository: str | None = None) -> list[TaskSpec]:
    """Every instance of the file as a task (a refusal names the instance); the branches of those already made stay."""
    instances = parse(text)
    defaults = {k: v for k, v in defaults.items() if k not in {"repository", "title", "goal", "acceptance", "verify"}}
    tasks = []
    for i, instance in enumerate(instances):
        try:
            repo = repository_for(team, instance, repository)
            branch = prepare_branch(repo, instance)
            data = as_taskfile(instance, repo, branch, defaults)
            taskfile.check(data, taskfile.SCHEMA)
            tasks.append(taskfile.save(user, team, data))
        except FieldError as exc:
            exc.message = f"{instance['instance_id']}: {exc.message}"
            exc.field = f"instances[{i}].{exc.field}"
            raise
    return tasks
