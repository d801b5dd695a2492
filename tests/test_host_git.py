"""Host git never runs what an agent wrote (RELIABILITY finding 9).

Each vector is planted by a command the agent runs in the real sandbox. The planted filter, fsmonitor or hook
would write the worker's environment to a marker file on the host. The agent then submits, resubmits, is
verified (its own test plants the vector again in the verification checkout), approved and cleaned up; no
marker may appear and the canary key may appear nowhere. Each vector's positive control runs plain git, with
the worker's environment, over the same planted tree: the marker appears and holds the canary.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from agents import guards, sandbox, services, tools, worktrees
from agents.models import Agent, Event
from judges import services as judging
from judges.models import Verdict
from tests.factories import run_until_idle, task_like
from tests.openai_server import reply
from tests.planted_git import (
    FIX,
    PLANTING_TEST,
    UNPLANT,
    VECTORS,
    plain_git_runs_it,
    plant_command,
    run_sandboxed,
    scratch_worktree,
    trees_hold_no_git_metadata,
)
from tests.real_models import task_on


def _launch(demo, server) -> Agent:
    task = task_on(
        demo, server, "Mallet", title="Fix mean()", verify_command="python -m pytest -q -rP", budget_tokens=500_000,
        budget_usd=5,
    )  # fmt: skip
    task.judge_profiles.set(demo[1].judge_profiles.all())
    (agent,) = services.launch_task(task)
    return agent


def _last_call(agent: Agent) -> dict:
    return agent.events.filter(kind="tool_call").last().payload


def _assert_canary_nowhere(canary: str, agent: Agent, repo_path: str) -> None:
    objects = subprocess.run(
        ["git", "-C", repo_path, "cat-file", "--batch-all-objects", "--batch"], capture_output=True, timeout=60
    ).stdout
    assert canary.encode() not in objects, "the canary reached the repository's objects"
    rows = json.dumps(
        [
            list(Agent.objects.filter(pk=agent.pk).values()),
            list(Event.objects.filter(agent=agent).values()),
            list(Verdict.objects.filter(agent=agent).values()),
        ],
        default=str,
    )
    assert canary not in rows, "the canary reached the database"


@pytest.mark.parametrize("vector", list(VECTORS))
def test_a_planted_vector_never_runs_on_the_host_through_the_whole_lifecycle(
    vector, demo, server, canary, bob, tmp_path
):
    agent = _launch(demo, server)
    repo_path = agent.task.repo.path
    mark, control_mark = tmp_path / "ran", tmp_path / "control-ran"

    # positive control: the same planting command, in a sandbox, then plain git over that tree runs it
    scratch = scratch_worktree(repo_path)
    run_sandboxed(scratch, plant_command(vector, control_mark))
    plain_git_runs_it(scratch, tmp_path / "plain")
    assert control_mark.exists() and canary in control_mark.read_text(), f"{vector} does not work on plain git"

    plant = plant_command(vector, mark)
    planting_test = PLANTING_TEST.format(plant=plant)
    write_test = f"cat > tests/test_zz_plant.py <<'EOF'\n{planting_test}EOF"
    server.script(
        reply("", ("run_command", {"command": plant})),
        reply("", ("submit", {"summary": "first try"})),
        reply("", ("run_command", {"command": f"{UNPLANT} && {FIX} && {write_test}"})),
        reply("", ("submit", {"summary": "mean() divides by n"})),
        reply("", ("run_command", {"command": plant})),
        reply("", ("submit", {"summary": "again"})),
        reply("", ("run_command", {"command": f"{UNPLANT} && echo '# n, not n-1' >> mathutil.py"})),
        reply("", ("submit", {"summary": "with a comment"})),
    )

    run_until_idle([agent], max_steps=8)  # plant, submit (refused), clean up and fix, submit, verification
    assert not mark.exists(), "submitting or verifying ran what the agent planted"
    refused = agent.events.filter(kind="tool_call", payload__tool="submit", payload__refused=True)
    assert refused.count() == 1 and "git metadata inside the worktree" in refused.first().payload["result"]
    agent.refresh_from_db()
    assert agent.status == Agent.Status.AWAITING_REVIEW, agent.status_reason
    first = Verdict.objects.get(agent=agent)
    assert "planted in the verification checkout: 0" in first.evidence["verify"]["output"]

    judging.review_verdict(first, bob, "reject", "Add a comment on why it divides by n.")
    run_until_idle([agent], max_steps=8)  # plant, resubmit (refused), clean up and change, submit, verification
    assert not mark.exists(), "resubmitting or verifying ran what the agent planted"
    assert agent.events.filter(kind="tool_call", payload__tool="submit", payload__refused=True).count() == 2
    assert "git metadata inside the worktree" in _last_submit_refusal(agent)
    agent.refresh_from_db()
    assert agent.status == Agent.Status.AWAITING_REVIEW, agent.status_reason
    second = Verdict.objects.filter(agent=agent).latest("pk")
    assert second.pk != first.pk and "planted in the verification checkout: 0" in second.evidence["verify"]["output"]

    judging.review_verdict(second, bob, "approve")
    second.refresh_from_db()
    assert second.status == "approved", second.merge_error
    assert not mark.exists(), "approving ran what the agent planted"

    run_sandboxed(agent.worktree, plant)  # planted again after approval, then a person cleans up
    agent.refresh_from_db()
    summary = services.clean_up(agent, "bob")
    assert "removed git metadata the agent made" in summary and not Path(agent.worktree).exists()
    assert not mark.exists(), "cleaning up ran what the agent planted"

    trees_hold_no_git_metadata(repo_path, "main", agent.branch)
    assert "return sum(values) / len(values)" in worktrees.git(repo_path, "show", "main:mathutil.py")
    _assert_canary_nowhere(canary, agent, repo_path)
    assert server.requests and all(r.headers["authorization"] == f"Bearer {canary}" for r in server.requests)


def _last_submit_refusal(agent: Agent) -> str:
    calls = agent.events.filter(kind="tool_call", payload__tool="submit", payload__refused=True)
    return calls.order_by("pk").last().payload["result"]


def test_host_git_gets_no_key_no_worker_git_variables_and_no_global_config(demo, canary, monkeypatch, tmp_path):
    _, task = demo
    repo = task.repo.path
    worktrees.git(repo, "config", "alias.showenv", "!env")  # the person's own repository config
    global_config = tmp_path / "gitconfig"
    global_config.write_text("[alias]\n\tglobalalias = !echo global-config-read\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    plain = subprocess.run(["git", "-C", repo, "showenv"], capture_output=True, text=True)
    assert canary in plain.stdout  # control: plain git hands the worker's environment on
    plain_global = subprocess.run(["git", "-C", repo, "globalalias"], capture_output=True, text=True)
    assert "global-config-read" in plain_global.stdout  # control: and reads the global config

    shown = worktrees.git(repo, "showenv")
    names = {line.split("=", 1)[0] for line in shown.splitlines() if "=" in line}
    assert canary not in shown and not names & {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "SWARM_TEST_KEY"}
    assert f"GIT_CONFIG_GLOBAL={os.devnull}" in shown.splitlines()
    with pytest.raises(worktrees.GitError):
        worktrees.git(repo, "globalalias")

    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    assert subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True).returncode != 0  # control
    assert len(worktrees.git(repo, "rev-parse", "HEAD").strip()) == 40  # the worker's GIT_* never reach host git


def test_an_operator_filter_selected_by_the_agents_gitattributes_is_not_run(demo, canary, tmp_path):
    _, task = demo
    mark, control_mark = tmp_path / "ran", tmp_path / "control-ran"
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    worktrees.git(task.repo.path, "config", "filter.op.clean", f"sh -c 'env > {mark}; cat'")
    run_sandboxed(ada.worktree, f"echo '*.py filter=op' > .gitattributes && {FIX}")
    control = plain_git_runs_it(
        Path(ada.worktree),
        tmp_path / "plain",
        configure=f"git config filter.op.clean \"sh -c 'env > {control_mark}; cat'\" &&",
    )
    assert control_mark.exists() and canary in control_mark.read_text(), control.stderr
    commit = worktrees.commit_all(ada.worktree, "fix with attributes")
    worktrees.git(ada.worktree, "status", "--porcelain")
    assert not mark.exists()
    assert "len(values)\n" in worktrees.git(ada.worktree, "show", f"{commit}:mathutil.py")  # stored, not filtered


def test_a_gitlink_staged_anyway_is_refused_and_never_committed(demo):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    head = worktrees.head(ada.worktree)
    (Path(ada.worktree) / "vendored").mkdir()  # an empty submodule directory: `git add -A` keeps the gitlink
    plain = subprocess.run(
        ["sh", "-c", f"git update-index --add --cacheinfo 160000,{head},vendored && git ls-files -s vendored"],
        cwd=ada.worktree,
        capture_output=True,
        text=True,
    )
    assert plain.stdout.startswith("160000")  # control: git stages a gitlink when asked
    with pytest.raises(worktrees.UnsafeTree, match="vendored"):
        worktrees.commit_all(ada.worktree, "with a gitlink")
    assert worktrees.head(ada.worktree) == head
    assert "vendored" not in worktrees.git(ada.worktree, "ls-files", "-s")


@pytest.mark.parametrize("path", ["sub/.git/config", "sub/.git", "sub/.GIT/hooks/post-index-change", "a/.Git."])
def test_the_file_tools_refuse_git_metadata_at_any_depth_and_in_any_case(demo, path):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    with pytest.raises(tools.ToolRefused, match="git metadata"):
        tools.execute(ada.worktree, "write_file", {"path": path, "content": "[core]\n"}, set())
    assert not (Path(ada.worktree) / path.split("/")[0]).exists()
    written = tools.execute(ada.worktree, "write_file", {"path": "sub/notes.txt", "content": "ok\n"}, set())
    assert written.ok  # control: the same tool writes an ordinary path at that depth


def test_a_link_to_the_worktrees_git_pointer_is_refused_by_the_file_tools(demo):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    run_sandboxed(ada.worktree, "ln -s .git pointer && ln -s mathutil.py alias.py")
    with pytest.raises(tools.ToolRefused, match="git metadata"):
        tools.execute(ada.worktree, "read_file", {"path": "pointer"}, set())
    assert tools.execute(ada.worktree, "read_file", {"path": "alias.py"}, set()).ok  # control: an ordinary link


def test_a_case_variant_of_git_refuses_host_git_and_the_tools_say_why(demo):
    """Linux git does not take `.GIT` for a repository (no positive control here); on a case-insensitive
    filesystem it would, so host git refuses it everywhere, and the agent reads what to remove."""
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    run_sandboxed(ada.worktree, "mkdir -p deep/er/.GIT && echo x > deep/er/.GIT/config")
    with pytest.raises(worktrees.UnsafeTree, match="deep/er/.GIT"):
        worktrees.git(ada.worktree, "status")
    with pytest.raises(tools.ToolRefused, match="deep/er/.GIT"):
        tools.execute(ada.worktree, "list_files", {}, set())
    run_sandboxed(ada.worktree, "rm -rf deep/er/.GIT")
    assert "mathutil.py" in tools.execute(ada.worktree, "list_files", {}, set()).result


def test_a_nested_repository_in_a_stopped_agents_worktree_is_removed_at_clean_up_and_its_files_kept(demo, tmp_path):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    mark = tmp_path / "ran"
    run_sandboxed(ada.worktree, plant_command("nested repository with a clean filter", mark))
    services.stop(ada, "alice")
    ada.refresh_from_db()
    summary = services.clean_up(ada, "alice")
    assert "sub/.git" in summary and not mark.exists()
    assert worktrees.git(task.repo.path, "show", f"{ada.branch}:sub/f") == "hi\n"
    trees_hold_no_git_metadata(task.repo.path, ada.branch)


def test_the_worktrees_own_pointer_must_name_the_gitdir_git_made(demo):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    pointer = Path(ada.worktree) / ".git"
    original = pointer.read_text()
    pointer.write_text(f"gitdir: {Path(task.repo.path) / '.git'}\n")  # as if something had rewritten it
    try:
        with pytest.raises(worktrees.UnsafeTree, match="does not point"):
            worktrees.git(ada.worktree, "status")
    finally:
        pointer.write_text(original)
    assert worktrees.git(ada.worktree, "status", "--porcelain") == ""


def test_verification_removes_its_checkout_without_entering_what_the_agents_code_planted(demo, tmp_path, canary):
    """The verify command is the agent's code: whatever it leaves in the checkout, host git does not enter."""
    _, task = demo
    mark, control_mark = tmp_path / "ran", tmp_path / "control-ran"
    vector = "nested repository with core.fsmonitor"
    repo_path = task.repo.path
    head = worktrees.git(repo_path, "rev-parse", "main").strip()
    with worktrees.detached(repo_path, head, "verify-probe") as checkout:
        result = sandbox.run(checkout, plant_command(vector, control_mark))
        assert result.exit_code == 0, result.output
        plain_git_runs_it(checkout, tmp_path / "plain")
        assert canary in control_mark.read_text()  # control: plain git over this checkout runs it
        assert sandbox.run(checkout, plant_command(vector, mark)).exit_code == 0
    assert not checkout.exists() and not mark.exists()


def test_runtime_submit_refusal_reaches_the_agent_as_a_readable_reason(demo, tmp_path):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    run_sandboxed(ada.worktree, "mkdir -p v && cd v && git init -q")
    with pytest.raises(tools.ToolRefused, match="v/.git"):
        guards.check_submit(Agent.objects.get(pk=ada.pk))


def test_search_skips_links_out_of_the_worktree_and_into_git_metadata(demo, tmp_path):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    secret = tmp_path / "outside.txt"
    secret.write_text("needle outside the worktree\n")
    run_sandboxed(ada.worktree, f"ln -s {secret} out.txt && ln -s .git pointer && echo 'needle inside' > in.txt")
    assert "needle outside" in Path(ada.worktree, "out.txt").read_text()  # control: the link does lead out
    found = tools.execute(ada.worktree, "search", {"pattern": "needle|gitdir"}, set())
    assert found.ok and "in.txt:1: needle inside" in found.result
    assert "outside" not in found.result and "gitdir" not in found.result


def test_a_file_that_is_not_utf8_does_not_break_the_diff_a_verification_reads(demo):
    _, task = demo
    (ada,) = services.launch_task(task_like(task, [("Ada", "sim-diligent")]))
    run_sandboxed(ada.worktree, "printf 'caf\\351 \\314\\n' > latin1.txt")
    commit = worktrees.commit_all(ada.worktree, "a latin-1 file")
    plain = subprocess.run(["git", "-C", ada.worktree, "diff", f"{ada.base_commit}..{commit}"], capture_output=True)
    with pytest.raises(UnicodeDecodeError):
        plain.stdout.decode("utf-8")  # control: the raw diff is not UTF-8
    assert "+caf\ufffd" in worktrees.diff(ada.worktree, ada.base_commit, commit)


def test_a_merge_driver_the_attributes_select_is_never_run_by_a_merge_and_fails_closed(demo, tmp_path, canary):
    _, task = demo
    repo, mark = task.repo.path, tmp_path / "ran"
    worktrees.git(repo, "config", "merge.op.driver", f"sh -c 'env > {mark}; cp %B %A'")
    (Path(repo) / ".gitattributes").write_text("*.py merge=op\n")
    main = worktrees.git(repo, "rev-parse", "main").strip()
    base = _commit_with(repo, _commit_with(repo, main, "extra.py", "x = 0\n"), ".gitattributes", "*.py merge=op\n")
    ours, theirs = _commit_with(repo, base, "extra.py", "x = 1\n"), _commit_with(repo, base, "extra.py", "x = 2\n")
    plain = subprocess.run(
        ["git", "-C", repo, "merge-tree", "--write-tree", ours, theirs], capture_output=True, text=True, timeout=30
    )
    assert plain.returncode == 0 and canary in mark.read_text()  # control: plain git runs it, with the keys
    mark.unlink()
    out = worktrees.git(repo, "merge-tree", "--write-tree", "--name-only", ours, theirs, check=False)
    assert not mark.exists()
    assert "extra.py" in out.splitlines()[1:]  # a conflict a person resolves, never a silent merge


def _commit_with(repo: str, parent: str, path: str, text: str) -> str:
    """A commit on `parent` with one top-level file written, made without touching any checkout."""
    blob = worktrees.git(repo, "hash-object", "-w", "--stdin", input=text).strip()
    entries = [e for e in worktrees.git(repo, "ls-tree", parent).splitlines() if not e.endswith(f"\t{path}")]
    tree = worktrees.git(repo, "mktree", input="\n".join([*entries, f"100644 blob {blob}\t{path}"]) + "\n").strip()
    return worktrees.git(repo, "commit-tree", tree, "-p", parent, "-m", path).strip()
