"""Git's smart HTTP protocol for Swarm's workers (SWARM_WORKER_DISK=local): the web process serves its bare
repositories (agents/served.py) to workers that fetch them into their own disks and push agents' branches back.

Only a worker may use it: the request carries the worker credential (`Authorization: Bearer <SWARM_WORKER_TOKEN>`,
compared in constant time), which never reaches a page, an event, a log or the sandbox. Without the local mode the
URLs do not exist (404). A push may only create or move agents' branches (`served.push_refusal`), fast-forward only
(hostgit.RECEIVE); git runs under the host git rule like every other host git call (hostgit.service).
"""

from __future__ import annotations

import hmac
import logging
import subprocess
import zlib

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents import hostgit, served
from agents.models import Repository

log = logging.getLogger(__name__)
SERVICES = {"git-upload-pack": "upload-pack", "git-receive-pack": "receive-pack"}
TIMEOUT = 600


def worker_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request carries the worker credential, else the 401 to answer; 404 without the local mode. Every
    internal URL a worker calls (git here, judges/internal.py) asks it first."""
    if not served.enabled():
        raise Http404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token = settings.SWARM_WORKER_TOKEN
    if not (scheme.lower() == "bearer" and token and hmac.compare_digest(given.encode(), token.encode())):
        return HttpResponse("a worker credential is required\n", status=401, content_type="text/plain")
    return None


def _repository(request: HttpRequest, repo_id: int) -> Repository | HttpResponse:
    """The repository a worker asks for, or the answer to give instead (404 without the local mode, 401)."""
    refusal = worker_refusal(request)
    if refusal is not None:
        return refusal
    repo = Repository.objects.filter(pk=repo_id).first()
    if repo is None or not (served.path(repo.pk) / "HEAD").is_file():
        raise Http404
    return repo


def _pkt(text: str) -> bytes:
    return f"{len(text) + 4:04x}{text}".encode()


@csrf_exempt
@require_GET
def info_refs(request: HttpRequest, repo_id: int) -> HttpResponse:
    repo = _repository(request, repo_id)
    if isinstance(repo, HttpResponse):
        return repo
    service = SERVICES.get(request.GET.get("service", ""))
    if service is None:
        return HttpResponse("only the smart protocol is served\n", status=403, content_type="text/plain")
    v2 = service == "upload-pack" and request.headers.get("Git-Protocol", "") == "version=2"
    out = _run(service, repo, advertise=True, body=b"", v2=v2)
    if isinstance(out, HttpResponse):
        return out
    head = b"" if v2 else _pkt(f"# service=git-{service}\n") + b"0000"  # as git http-backend answers
    return _answer(head + out, f"application/x-git-{service}-advertisement")


@csrf_exempt
@require_POST
def rpc(request: HttpRequest, repo_id: int, service: str) -> HttpResponse:
    repo = _repository(request, repo_id)
    if isinstance(repo, HttpResponse):
        return repo
    name = SERVICES.get(f"git-{service}")
    if name is None:
        raise Http404
    limit = settings.SWARM_GIT_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if request.headers.get("Content-Encoding", "") == "gzip":  # git compresses large fetch negotiations
        body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, limit + 1)
    if len(body) > limit:
        return HttpResponse("request too large\n", status=413, content_type="text/plain")
    if name == "receive-pack":
        refusal = served.push_refusal(repo, body)
        if refusal:
            log.warning("push to repository %s refused: %s", repo.pk, refusal)
            return HttpResponse(f"push refused: {refusal}\n", status=403, content_type="text/plain")
    v2 = name == "upload-pack" and request.headers.get("Git-Protocol", "") == "version=2"
    out = _run(name, repo, advertise=False, body=body, v2=v2)
    if isinstance(out, HttpResponse):
        return out
    return _answer(out, f"application/x-git-{name}-result")


def _run(service: str, repo: Repository, advertise: bool, body: bytes, v2: bool) -> bytes | HttpResponse:
    argv, env = hostgit.service(service, served.path(repo.pk), advertise=advertise, protocol_v2=v2)
    try:
        done = subprocess.run(argv, input=body, capture_output=True, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("git %s of repository %s timed out", service, repo.pk)
        return HttpResponse("timed out\n", status=504, content_type="text/plain")
    if done.returncode != 0 and not done.stdout:
        log.warning(
            "git %s of repository %s failed: %s", service, repo.pk, done.stderr[-2000:].decode(errors="replace")
        )
        return HttpResponse("git failed\n", status=500, content_type="text/plain")
    return done.stdout


def _answer(content: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "no-cache, max-age=0, must-revalidate"
    return response
