"""The one way Swarm's host runs git: nothing an agent wrote is read as git configuration or run as code.

An agent writes files in its worktree, and its code writes more while a verification runs in a checkout. Git
reads some files as instructions: a nested repository's own config (a clean filter, `core.fsmonitor`, hooks), a
`.git` file or symlink that points git at such a config, a `.gitmodules` submodule, a `.gitattributes` line that
selects a filter. When the host ran `git add -A` and `git status` in a worktree, git entered a nested repository
the agent had made and ran its filter as the worker's user with the worker's environment (RELIABILITY finding 9).
The rule, for every host git call:

- a minimal environment (no keys): PATH, an empty HOME, a locale; no system or global config or attributes;
- on the command line: hooks, fsmonitor, the untracked cache and submodule recursion off, submodules ignored,
  every filter driver the repository's config defines switched off and every merge driver made to fail closed;
- in a tree an agent writes (its worktree, a verification checkout) the `.git` pointer must be the one git
  wrote, and a `.git` entry anywhere else in the tree (directory, file or symlink, in any letter case) refuses
  the call, so git never enters a nested repository; a gitlink (mode 160000) is never committed.
A person's own repository keeps its submodules and its own config: nothing of it is agent-writable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

# Settings that hold whatever the repository's or a nested repository's config says (RELIABILITY 21e, finding 9).
HARDENED = [
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.attributesFile", os.devnull),
    ("core.protectNTFS", "true"),  # git itself refuses `.GIT`, `git~1`, `.git.` and the HFS variants as paths
    ("core.protectHFS", "true"),
    ("core.pager", "cat"),
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("safe.bareRepository", "explicit"),
    ("protocol.allow", "never"),
    ("protocol.file.allow", "never"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("user.name", "Swarm"),
    ("user.email", "swarm@localhost"),
]
# Commands that never convert file content, so no filter or merge driver can run: no need to look drivers up.
CONTENT_FREE = {
    "rev-parse",
    "symbolic-ref",
    "update-ref",
    "merge-base",
    "commit-tree",
    "ls-tree",
    "cat-file",
    "branch",
    "config",
    "ls-files",
    "for-each-ref",
    "init",
}
MAX_LISTED = 20


class GitError(Exception):
    pass


class UnsafeTree(GitError):
    """A tree holds git metadata an agent made; host git will not run in it until that is removed."""


def git(cwd: str | Path, *args: str, check: bool = True, input: str | None = None, transport: Transport = ()) -> str:
    """Run host git in `cwd` under the rule above; returns stdout, GitError on failure when `check`. `transport`:
    the one remote this call may reach (`served_by`, `local_transport`); without it git reaches none. A repository
    Swarm cloned from a URL is bare: it is named with --git-dir, never found."""
    if is_clone(cwd) and not (args and args[0].startswith("--git-dir=")):
        args = (f"--git-dir={cwd}", *args)
    proc = _run(cwd, args, input=input, transport=transport)
    if check and proc.returncode != 0:
        raise GitError((proc.stderr or proc.stdout).strip()[:2000])
    return proc.stdout


def bare(
    gitdir: str | Path, *args: str, check: bool = True, input: str | None = None, transport: Transport = ()
) -> str:
    """Host git in a bare repository Swarm made (`safe.bareRepository=explicit`: named with --git-dir, never found)."""
    return git(gitdir, f"--git-dir={gitdir}", *args, check=check, input=input, transport=transport)


def clones_dir() -> Path:
    """Where Swarm keeps the bare repositories it cloned from URLs (agents/remotes.py), `repo-<id>.git` each."""
    return Path(settings.DATA_DIR) / "mirrors"


def is_clone(path: str | Path) -> bool:
    path = Path(path)
    return path.suffix == ".git" and path.parent == clones_dir()


def remote(gitdir: str | Path, *args: str, transport: Transport, env: dict[str, str]) -> tuple[list[str], dict]:
    """(argv, env) of a git call in a bare repository Swarm made that reaches the one remote a person named (a clone or
    fetch from a URL, agents/remotes.py): hardened like every call, `transport` and `env` (ssh's command) added."""
    full = environment([*HARDENED, *transport])
    full["GIT_CEILING_DIRECTORIES"] = str(Path(gitdir).parent)
    return ["git", f"--git-dir={gitdir}", *args], {**full, **env}


# Remote access, given per call as config (never written to a repository's config, never on a command line): the
# protocol the call may use, and for the web process's served repositories the worker credential as a header.
Transport = tuple[tuple[str, str], ...]


def served_by(token: str) -> Transport:
    """What a worker's fetch or push to the web process's served repositories may use: http(s) and the credential,
    no redirects, no credential helper, nothing read from a config file."""
    return (
        ("protocol.http.allow", "always"),
        ("protocol.https.allow", "always"),
        ("http.followRedirects", "false"),
        ("http.extraHeader", f"Authorization: Bearer {token}"),
    )


def local_transport() -> Transport:
    """A fetch between two repositories on this host's disk that Swarm names itself (a person's repository and the
    bare repository Swarm serves from it)."""
    return (("protocol.file.allow", "always"),)


# The rules of a push a worker makes into a served repository, whatever that repository's config says.
RECEIVE = (
    ("receive.denyNonFastForwards", "true"),
    ("receive.denyDeletes", "true"),
    ("receive.fsckObjects", "true"),
    ("receive.advertisePushOptions", "false"),
    ("receive.shallowUpdate", "false"),
)


def service(name: str, gitdir: str | Path, advertise: bool, protocol_v2: bool = False) -> tuple[list[str], dict]:
    """(argv, env) of `git upload-pack` or `git receive-pack` in stateless-RPC mode on a served bare repository, for
    git's smart HTTP; hardened like every host git call, pushes under RECEIVE."""
    if name not in {"upload-pack", "receive-pack"}:
        raise GitError(f"no git service {name!r}")
    env = environment([*HARDENED, *(RECEIVE if name == "receive-pack" else ())])
    env["GIT_CEILING_DIRECTORIES"] = str(Path(gitdir).parent)
    if protocol_v2 and name == "upload-pack":
        env["GIT_PROTOCOL"] = "version=2"
    argv = ["git", name, "--stateless-rpc", *(["--advertise-refs"] if advertise else []), str(gitdir)]
    return argv, env


def succeeds(cwd: str | Path, *args: str) -> bool:
    """Whether a yes/no git command (`merge-base --is-ancestor`) says yes; UnsafeTree is still raised."""
    return _run(cwd, args).returncode == 0


def _run(
    cwd: str | Path, args: tuple[str, ...], input: str | None = None, transport: Transport = ()
) -> subprocess.CompletedProcess:
    path = Path(cwd)
    if not str(cwd) or not path.is_absolute():
        # `git -C ""` runs in the process's own directory: an agent without a worktree must never commit there
        raise GitError(f"host git needs an absolute directory, not {str(cwd)!r}")
    check_tree(path)
    config = list(HARDENED)
    gitdir = [a for a in args[:1] if a.startswith("--git-dir=")]
    if not _content_free(args[len(gitdir) :]):
        config += _drivers_off(path, gitdir)
    config += transport  # after HARDENED: the last value of a key wins
    env = environment(config)
    # git never walks up from a missing or plain directory into an enclosing repository (Swarm's own checkout)
    env["GIT_CEILING_DIRECTORIES"] = str(path.parent)
    return subprocess.run(
        ["git", "-C", str(path), *args],
        capture_output=True,
        encoding="utf-8",
        errors="replace",  # an agent's file need not be UTF-8; a diff of it must not crash verification
        env=env,
        input=input,
        timeout=120,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def environment(config: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """What host git runs with: no variable of the worker's own (keys, GIT_*), config given as data, not parsed."""
    env = {
        "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(_empty_home()),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_PAGER": "cat",
    }
    pairs = config if config is not None else HARDENED
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _empty_home() -> Path:
    home = Path(settings.DATA_DIR) / "git-home"
    if not home.is_dir():
        home.mkdir(parents=True, exist_ok=True)
    return home


def _content_free(args: tuple[str, ...]) -> bool:
    if not args:
        return True
    if args[0] == "worktree":
        return len(args) > 1 and args[1] in {"prune", "remove", "list"}
    return args[0] in CONTENT_FREE


def _drivers_off(cwd: Path, gitdir: list[str]) -> list[tuple[str, str]]:
    """Every filter the repository's config defines, off; every merge driver, failing (a conflict, not a merge).

    A `.gitattributes` the agent wrote may select any of them by name; the host never runs one for it."""
    proc = subprocess.run(
        ["git", "-C", str(cwd), *gitdir, "config", "-z", "--get-regexp", r"^(filter|merge)\..+\.[a-z]+$"],
        capture_output=True,
        text=True,
        env={**environment(), "GIT_CEILING_DIRECTORIES": str(cwd.parent)},
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    filters, merges = set(), set()
    for record in proc.stdout.split("\0"):
        key = record.split("\n", 1)[0]
        section, _, rest = key.partition(".")
        name = rest.rpartition(".")[0]
        (filters if section == "filter" else merges).add(name)
    config = []
    for name in sorted(filters):
        for var, value in (("clean", ""), ("smudge", ""), ("process", ""), ("required", "false")):
            config.append((f"filter.{name}.{var}", value))
    config += [(f"merge.{name}.driver", "false") for name in sorted(merges)]
    return config


# --- what an agent may have planted


def is_dotgit(name: str) -> bool:
    """`.git` as git on any filesystem would take it: any letter case, trailing dots or spaces, the 8.3 name."""
    folded = name.rstrip(" .").lower()
    return folded == ".git" or name.lower() == "git~1"


def find_git_metadata(root: str | Path) -> list[str]:
    """Paths (relative to `root`) of `.git` entries below its top, found without following any symlink."""
    root = Path(root)
    found: list[str] = []
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        directory, rel = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue  # removed while we looked
        except OSError:  # fail closed: what the host cannot list may hide a nested repository
            found.append(f"{rel or '.'} (a directory the host cannot read)")
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if is_dotgit(entry.name):
                if path != ".git":
                    found.append(path)
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, path))
    return sorted(found)


def check_tree(path: str | Path) -> None:
    """UnsafeTree unless host git may run in `path`: see the module's docstring."""
    path = Path(path)
    if not _agent_area(path):
        return  # a person's repository (or a path being registered): nothing an agent can write
    dotgit = path / ".git"
    if dotgit.is_symlink() or not dotgit.is_file():
        raise UnsafeTree(f"{dotgit} is not the pointer file git made for this worktree")
    _check_pointer(dotgit)
    planted = find_git_metadata(path)
    if planted:
        listed = ", ".join(planted[:MAX_LISTED])
        more = f" and {len(planted) - MAX_LISTED} more" if len(planted) > MAX_LISTED else ""
        raise UnsafeTree(
            f"git metadata inside the worktree: {listed}{more}. Nested repositories, submodules and .git files or "
            "links are not allowed (Swarm's git would have to enter them); remove them, e.g. `rm -rf <path>/.git`."
        )


def _check_pointer(dotgit: Path) -> None:
    """A linked worktree's `.git` file names the gitdir git made for it, and that gitdir names it back."""
    text = dotgit.read_text(errors="replace").strip()
    gitdir = Path(text.split(":", 1)[1].strip()) if text.startswith("gitdir:") else None
    if gitdir is not None and not gitdir.is_absolute():
        gitdir = dotgit.parent / gitdir
    backlink = gitdir / "gitdir" if gitdir else None
    if (
        gitdir is None
        or gitdir.parent.name != "worktrees"
        or not backlink.is_file()
        or Path(backlink.read_text(errors="replace").strip()).resolve() != dotgit.resolve()
    ):
        raise UnsafeTree(f"{dotgit} does not point at the gitdir git made for this worktree")


def _agent_area(path: Path) -> bool:
    """Where agents write: their worktrees, and the checkouts their code runs in at verification."""
    where = path.resolve()
    areas = [Path(settings.WORKTREES_DIR), Path(settings.DATA_DIR) / "verify"]
    return any(where.is_relative_to(area.resolve()) for area in areas)


def remove_git_metadata(root: str | Path) -> list[str]:
    """Delete the `.git` entries an agent planted below `root` (never following links); returns what went."""
    if not _agent_area(Path(root)):
        return []  # only ever in a tree an agent wrote
    removed = []
    for rel in find_git_metadata(root):
        target = Path(root) / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        removed.append(rel)
    return removed


def staged_gitlinks(worktree: str | Path) -> list[str]:
    """Paths staged as gitlinks (mode 160000) that HEAD does not have as the same gitlink."""
    out = git(worktree, "diff-index", "--cached", "--no-renames", "-z", "HEAD")
    fields = out.split("\0")
    found = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split(" ")
        if len(parts) >= 2 and parts[1] == "160000":
            found.append(path)
    return found
