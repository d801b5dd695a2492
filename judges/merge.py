"""Merging approved work into the task's target branch, by the host, under agents.hostgit's rule.

No working tree is touched while merging: `git merge-tree --write-tree` builds the result, `commit-tree`
records it, and `update-ref` moves the branch only if it still points where we read it (compare-and-swap).
"""

from __future__ import annotations

from agents import worktrees


class MergeRefused(Exception):
    pass


def branch_head(repo_path: str, branch: str) -> str:
    return worktrees.git(repo_path, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").strip()


def merge(repo_path: str, target: str, commit: str, message: str) -> str:
    """Merge `commit` into `target`; returns the new head. MergeRefused on conflicts, nothing changed."""
    old = branch_head(repo_path, target)
    if is_ancestor(repo_path, commit, old):
        raise MergeRefused(f"{target} already contains this work")
    tree, conflicts = merge_tree(repo_path, old, commit)
    if conflicts or len(tree) < 40:
        raise MergeRefused("merge conflict in " + (", ".join(conflicts) or "the merge"))
    new = worktrees.git(repo_path, "commit-tree", tree, "-p", old, "-p", commit, "-m", message).strip()
    worktrees.git(repo_path, "update-ref", "-m", "swarm: merge approved work", f"refs/heads/{target}", new, old)
    changed = worktrees.git(repo_path, "diff", "--name-only", "--no-ext-diff", "--no-textconv", old, new).splitlines()
    if not any(p.endswith(".gitattributes") for p in changed):  # never let merged attributes pick filters to run
        _refresh_checkout(repo_path, target, old, new)
    return new


def merge_tree(repo_path: str, ours: str, theirs: str) -> tuple[str, list[str]]:
    """The merged tree of two commits (conflicted files hold git's markers) and the conflicting paths."""
    out = worktrees.git(
        repo_path, "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs, check=False
    )
    lines = out.strip().splitlines()
    return (lines[0] if lines else ""), lines[1:]


def is_ancestor(repo_path: str, commit: str, head: str) -> bool:
    return worktrees.succeeds(repo_path, "merge-base", "--is-ancestor", commit, head)


def _refresh_checkout(repo_path: str, target: str, old: str, new: str) -> None:
    """If a person has `target` checked out in the repository, bring its clean files up to date."""
    current = worktrees.git(repo_path, "symbolic-ref", "-q", "HEAD", check=False).strip()
    if current != f"refs/heads/{target}":
        return
    worktrees.git(repo_path, "read-tree", "-m", "-u", old, new, check=False)


def export_patch(worktree: str, base: str, commit: str) -> str:
    return worktrees.git(
        worktree, "format-patch", "--stdout", "--no-signature", "--no-ext-diff", "--no-textconv", f"{base}..{commit}"
    )
