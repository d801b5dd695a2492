"""Repositories cloned from a URL a team member wrote: which URLs and credentials the operator allows, and the git
calls that reach them. agents/cloning.py runs these calls as background jobs and keeps the clone's state.

The server reaches a URL a team member typed, so the operator decides where it may go and with what:

- hosts: `SWARM_GIT_HOSTS`, with the rules of agents/hosts.py (`host`, `host:port`, `host:*`); schemes https, http,
  ssh (also `user@host:path`) and git (a local `git daemon`). Never file://, a path, or a transport helper (ext::):
  git's protocol allowlist lets each call use its URL's scheme only, and redirects are not followed;
- credentials: `SWARM_GIT_CREDENTIALS` names them (a token in an environment variable, or an ssh key file), each
  optionally bound to hosts; a form offers the names. A token goes to git as an HTTP header in git's environment, a
  key as ssh's `-i`, never in the URL, the database, a command line, an event or a message; any error git prints is
  scrubbed of it anyway;
- git runs under agents/hostgit.py's rule (no hooks, no config of the repository's, a minimal environment), into a
  bare repository Swarm made, with a time limit and a size limit.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from agents import hostgit, hosts
from agents.sandbox.gitview import REF

PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@/:\[\]]+):(?P<path>.*)$")
PROGRESS = re.compile(r"(?:remote: )?(?P<phase>[A-Z][a-z]+(?: [a-z]+)*):\s+(?P<pct>\d{1,3})%")
KINDS = "an https://, http://, ssh:// or git:// URL, or user@host:path"


class Refused(Exception):
    """A URL or credential the operator's settings do not allow; `message` completes "<field> ...", no secret in it."""

    def __init__(self, message: str, field: str = "url"):
        super().__init__(message)
        self.message, self.field = message, field


class RemoteFailed(Exception):
    """git could not clone or fetch: the message is for a person, scrubbed of every secret."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Remote:
    url: str  # exactly what git is given, as the person wrote it
    scheme: str
    host: str
    port: int


@dataclass
class Access:
    """What one call may use to reach a remote: git config (protocol, header), environment (ssh), the secrets to
    scrub from anything git says."""

    transport: tuple[tuple[str, str], ...]
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def parse(url: str) -> Remote:
    """The remote a URL names if the operator allows its host, else Refused saying why."""
    url = url.strip()
    if not url:
        raise Refused("is required to add a repository by URL.")
    if len(url) > 300 or not hosts.URL_CHARS.match(url):
        raise Refused(f"must be {KINDS}, without spaces or other characters.")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):  # git's <transport>::<address>, a remote helper
        raise Refused(f"must be {KINDS}; remote helpers (transport::address) are not allowed.")
    if "://" not in url:
        match = SCP.match(url)
        if not match or url.startswith(("/", ".", "~")):
            raise Refused(f"must be {KINDS}; a repository on this server is added by its path instead.")
        scheme, user, host, port, path = "ssh", match["user"], match["host"].strip("[]"), None, match["path"]
    else:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in PORTS:
            raise Refused(f"must be {KINDS}; file:// URLs and paths on this server are added by their path instead.")
        if scheme in ("http", "https"):  # the same checks as webhooks and model servers, HTTP client's reading included
            return _listed_http(url, scheme)
        try:
            port = parts.port
        except ValueError:
            raise Refused("has a port that is not a number.") from None
        if parts.password is not None or (parts.username is not None and scheme != "ssh"):
            raise Refused("must not contain a password or token: the operator's credentials are chosen below.")
        if parts.query or parts.fragment or "?" in url or "#" in url:
            raise Refused("must not have a query or a fragment.")
        user, host, path = parts.username, parts.hostname or "", parts.path
    if user is not None and not USER.match(user):
        raise Refused("has a user name that is not letters, digits, '.', '_' or '-'.")
    if not path.strip("/") or path.startswith("-"):
        raise Refused("must name a repository on its host, e.g. ssh://git@example.com/team/repo.git.")
    try:
        host = hosts.normal_host(host)
        where = _listed(host, port or PORTS[scheme], PORTS[scheme])
    except hosts.HostRefused as refused:
        raise Refused(refused.message) from None
    return Remote(url, scheme, host, int(where.rsplit(":", 1)[1]))


def _listed(host: str, port: int, default: int) -> str:
    return hosts.check_listed(
        host,
        port,
        default,
        settings.SWARM_GIT_HOSTS,
        empty="cannot be cloned: this server allows no git hosts (an operator sets SWARM_GIT_HOSTS).",
        refused="clone URLs (SWARM_GIT_HOSTS)",
    )


def _listed_http(url: str, scheme: str) -> Remote:
    try:
        where = hosts.allowed_host(
            url,
            settings.SWARM_GIT_HOSTS,
            empty="cannot be cloned: this server allows no git hosts (an operator sets SWARM_GIT_HOSTS).",
            refused="clone URLs (SWARM_GIT_HOSTS)",
        )
    except hosts.HostRefused as refused:
        message = refused.message.replace("must be an http:// or https:// URL", f"must be {KINDS}")
        if "user name or password" in message:
            message = "must not contain a user name, password or token: the operator's credentials are chosen below."
        raise Refused(message) from None
    host, _, port = where.rpartition(":")
    if not urlsplit(url).path.strip("/"):
        raise Refused("must name a repository on its host, e.g. https://example.com/team/repo.git.")
    return Remote(url, scheme, host, int(port))


def credential_choices() -> list[tuple[str, str]]:
    """The operator's credentials as a form offers them: names, kinds and hosts, never a secret or where it is kept."""
    choices = [("", "none (a public repository)")]
    for name, cred in sorted(settings.SWARM_GIT_CREDENTIALS.items()):
        kind = "token, for https" if cred["kind"] == "token" else "ssh key, for ssh"
        bound = f", only {', '.join(cred['hosts'])}" if cred["hosts"] else ""
        choices.append((name, f"{name} ({kind}{bound})"))
    return choices


def check_credential(name: str, remote: Remote) -> dict | None:
    """The operator's credential `name` if it may be sent to `remote`, else Refused (on the credential field)."""
    if not name:
        return None
    cred = settings.SWARM_GIT_CREDENTIALS.get(name)
    if cred is None:
        raise Refused(
            "is not one of this server's git credentials (an operator lists them in SWARM_GIT_CREDENTIALS).",
            "credential",
        )
    if cred["kind"] == "token" and not (remote.scheme == "https" or (remote.scheme == "http" and _loopback(remote))):
        raise Refused(f"“{name}” is a token, which only an https:// URL can use.", "credential")
    if cred["kind"] == "ssh" and remote.scheme != "ssh":
        raise Refused(f"“{name}” is an ssh key, which only an ssh:// or user@host:path URL can use.", "credential")
    default = PORTS[remote.scheme]
    if cred["hosts"] and not any(hosts.listed(remote.host, remote.port, default, h) for h in cred["hosts"]):
        raise Refused(f"“{name}” is lent to {', '.join(cred['hosts'])} only, not {remote.host}.", "credential")
    return cred


def _loopback(remote: Remote) -> bool:
    """A server on this machine: plain http carries a token no further than the host itself."""
    try:
        return remote.host == "localhost" or ipaddress.ip_address(remote.host.strip("[]")).is_loopback
    except ValueError:
        return False


def access(remote: Remote, credential: str) -> Access:
    """What a call to `remote` runs with, the credential's secret read now (a person never sees it)."""
    try:
        cred = check_credential(credential, remote)
    except Refused as refused:
        raise RemoteFailed(f"credential {refused.message}") from None
    transport = ((f"protocol.{remote.scheme}.allow", "always"), ("http.followRedirects", "false"))
    result = Access(transport)
    if cred and cred["kind"] == "token":
        token = os.environ.get(cred["env"], "")
        if not token:
            raise RemoteFailed(f"credential “{credential}” has no value on this server (an operator sets it).")
        basic = base64.b64encode(f"{cred['user']}:{token}".encode()).decode()
        result.transport += (("http.extraHeader", f"Authorization: Basic {basic}"),)
        result.secrets += [token, basic]
    if remote.scheme == "ssh":
        result.env["GIT_SSH_COMMAND"] = ssh_command(cred["key"] if cred else None)
    return result


def ssh_command(key: str | None) -> str:
    """ssh with no config file or agent, the operator's key only (or none), and known host keys only."""
    args = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    args += ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    args += ["-i", key] if key else ["-o", "IdentityFile=none"]
    if settings.SWARM_GIT_KNOWN_HOSTS:
        args += ["-o", f"UserKnownHostsFile={settings.SWARM_GIT_KNOWN_HOSTS}"]
    return shlex.join(args)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` without any of `secrets`, nor a user or password written into a URL."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)


def remote_head(gitdir: Path, remote: Remote, via: Access, timeout: float) -> str:
    """The branch the remote's HEAD names (its default branch); "main" when it names none (an empty repository)."""
    argv, env = hostgit.remote(gitdir, "ls-remote", "--symref", "--", remote.url, "HEAD", **_call(via))
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RemoteFailed(f"{remote.host} did not answer within {timeout:.0f} s.") from None
    if proc.returncode != 0:
        raise RemoteFailed(_said(proc.stderr, via))
    for line in proc.stdout.splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            branch = line[len("ref: refs/heads/") : -len("\tHEAD")]
            # the remote's word, later on host git's command lines (`<branch>^{commit}`): a plain branch name only
            if len(branch) > 100 or branch.startswith("-") or not REF.match(f"refs/heads/{branch}"):
                raise RemoteFailed("the remote's default branch has a name Swarm does not take; ask for a plain one.")
            return branch
    return "main"


def fetch(gitdir: Path, remote: Remote, via: Access, on_progress: Callable, deadline: float, max_bytes: int) -> list:
    """Fetch every branch of the remote into the same name here (never Swarm's own `swarm/*`, never tags), showing
    git's progress through `on_progress(phase, percent)` (also called with (None, None) about once a second). A
    branch that moved here since (approved work merged into it) is not overwritten: returns such branches' names."""
    refspecs = ["refs/heads/*:refs/heads/*", "^refs/heads/swarm/*"]
    args = ("fetch", "--progress", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--", remote.url)
    argv, env = hostgit.remote(gitdir, *args, *refspecs, **_call(via))
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=_read_progress, args=(proc.stderr, lines, on_progress), daemon=True)
    reader.start()
    why = ""
    while proc.poll() is None and not why:
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        on_progress(None, None)
        why = _over(gitdir, deadline, max_bytes)
        if why and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=5)
    why = why or _over(gitdir, deadline, max_bytes)
    if why:
        raise RemoteFailed(why)
    rejected = [line.split()[2] for line in lines if line.startswith(" ! [rejected]") and len(line.split()) > 2]
    if proc.returncode != 0 and not (rejected and not any(line.startswith("fatal:") for line in lines)):
        raise RemoteFailed(_said("\n".join(lines), via))
    return rejected


def _over(gitdir: Path, deadline: float, max_bytes: int) -> str:
    """Why a fetch must stop now ("" while it may go on): its time or its size is up."""
    if time.monotonic() > deadline:
        return f"took longer than {settings.SWARM_CLONE_TIMEOUT:g} s (SWARM_CLONE_TIMEOUT); stopped."
    if _size(gitdir) > max_bytes:
        limit = f"{max_bytes / 2**20:.0f} MiB" if max_bytes >= 2**20 else f"{max_bytes} bytes"
        return f"is larger than {limit} (SWARM_CLONE_MAX_BYTES); stopped."
    return ""


def _call(via: Access) -> dict:
    return {"transport": via.transport, "env": via.env}


def _read_progress(stream, lines: list[str], on_progress: Callable) -> None:
    """git writes progress as lines ended by a carriage return; each one seen is reported, the rest kept."""
    buffer = b""
    while chunk := stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096):
        buffer += chunk
        *done, buffer = re.split(rb"[\r\n]", buffer)
        for raw in done:
            line = raw.decode("utf-8", "replace")
            match = PROGRESS.search(line)
            if match:
                on_progress(match["phase"], min(100, int(match["pct"])))
            elif line.strip():
                lines.append(line)
    if buffer.strip():
        lines.append(buffer.decode("utf-8", "replace"))


def _said(stderr: str, via: Access) -> str:
    """git's own words, the last few lines that say something, scrubbed; for a person to act on."""
    said = [line.strip() for line in stderr.splitlines() if line.strip() and not PROGRESS.search(line)]
    text = " ".join(said[-4:]) or "git failed without saying why."
    if "could not read Username" in text or "Authentication failed" in text:  # git asked for a login it cannot type
        text = "the server refused the credential, or needs one (choose one of the operator's). git said: " + text
    return scrub(text, via.secrets)[:450]


def _size(gitdir: Path) -> int:
    total = 0
    for folder, _, files in os.walk(gitdir):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # a temporary file git renamed meanwhile
    return total
