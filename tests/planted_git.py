"""Git metadata an agent may plant in its worktree (RELIABILITY finding 9), for tests/test_host_git.py: the planting
commands, the agent's own test that plants again at verification, and the positive controls (the planted tree run
by plain git, with the worker's environment)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

from agents import tools, worktrees

G = "git -c user.name=a -c user.email=a@b -c init.defaultBranch=main"
FRESH = "rm -rf sub lib meta meta-src .gitmodules && "  # planting twice in one tree starts over
NESTED = FRESH + f"mkdir -p sub && cd sub && git init -q && echo hi > f && {G} add -A && {G} commit -qm nested && "
RUN = "sh -c 'env > {mark}; cat'"  # what the filter does, on whichever side of the sandbox it runs

# Each vector: the command that plants it (in the worktree, {mark} = the host's marker path).
VECTORS = {
    "nested repository with a clean filter": (
        FRESH + f"mkdir -p sub && cd sub && git init -q && echo hi > f && echo '* filter=x' > .gitattributes && "
        f'{G} add -A && {G} commit -qm nested && git config filter.x.clean "{RUN}" && touch -d 2000-01-01 f'
    ),
    "nested repository with core.fsmonitor": (
        NESTED + "git config core.fsmonitor 'env > {mark}; echo' && echo changed > f"
    ),
    "nested repository with a hook": (
        NESTED + "printf '#!/bin/sh\\nenv > {mark}\\n' > .git/hooks/post-index-change && "
        "chmod +x .git/hooks/post-index-change && touch -d 2000-01-01 f"
    ),
    "submodule declared in .gitmodules": (
        FRESH + "printf '[submodule \"lib\"]\\n\\tpath = lib\\n\\turl = ./lib\\n' > .gitmodules && "
        f"mkdir -p lib && cd lib && git init -q && echo hi > f && echo '* filter=x' > .gitattributes && "
        f'{G} add -A && {G} commit -qm lib && git config filter.x.clean "{RUN}" && touch -d 2000-01-01 f'
    ),
    "gitdir: pointer file": (
        FRESH
        + f"git init -q --separate-git-dir=$PWD/meta sub && cd sub && echo 'gitdir: ../meta' > .git && echo hi > f && "
        f"echo '* filter=x' > .gitattributes && {G} add -A && {G} commit -qm nested && "
        f'git config filter.x.clean "{RUN}" && touch -d 2000-01-01 f'
    ),
    "symlink named .git": (
        FRESH
        + f"git init -q meta-src && mv meta-src/.git meta && rmdir meta-src && mkdir sub && ln -s ../meta sub/.git && "
        f"cd sub && echo hi > f && echo '* filter=x' > .gitattributes && {G} add -A && {G} commit -qm nested && "
        f'git config filter.x.clean "{RUN}" && touch -d 2000-01-01 f'
    ),
}
UNPLANT = "find . -mindepth 2 -name .git -prune -exec rm -rf {} +"
FIX = "sed -i 's/(len(values) - 1)/len(values)/' mathutil.py"
# The agent's own test: at verification it plants the vector in the checkout the host then removes.
PLANTING_TEST = """import subprocess


def test_plant():
    done = subprocess.run(["sh", "-c", {plant!r}], capture_output=True, text=True)
    print("planted in the verification checkout:", done.returncode, done.stderr[-300:])
"""


def plant_command(vector: str, mark: Path) -> str:
    return VECTORS[vector].replace("{mark}", str(mark))


def run_sandboxed(worktree: str | Path, command: str) -> str:
    outcome = tools.execute(str(worktree), "run_command", {"command": command}, set())
    assert outcome.command["exit_code"] == 0, outcome.result
    return outcome.result


def scratch_worktree(repo_path: str) -> Path:
    spec = SimpleNamespace(path=repo_path, default_branch="main")
    _, path, _ = worktrees.create(spec, 800_000 + secrets.randbelow(99_999), "control")
    return path


def plain_git_runs_it(planted: Path, into: Path, configure: str = "") -> subprocess.CompletedProcess:
    """The positive control: the planted tree copied into a plain repository; plain git, the worker's env."""
    shutil.copytree(planted, into, symlinks=True, ignore=lambda d, names: [".git"] if Path(d) == planted else [])
    script = f"git init -q && {configure} git add -A; git status --porcelain"
    return subprocess.run(["sh", "-c", script], cwd=into, capture_output=True, text=True, timeout=60)


def trees_hold_no_git_metadata(repo_path: str, *refs: str) -> None:
    for ref in refs:
        listing = worktrees.git(repo_path, "ls-tree", "-r", "--full-tree", ref)
        for line in listing.splitlines():
            assert not line.startswith("160000 "), f"a gitlink was committed in {ref}: {line}"
            path = line.split("\t", 1)[1]
            assert ".git" not in path.lower().split("/"), f"{path} was committed in {ref}"
