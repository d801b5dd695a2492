"""Team webhooks: which URLs the operator allows (SWARM_WEBHOOK_HOSTS), how a body is signed, and one POST.

The receiver checks `X-Swarm-Signature: sha256=<hex>`, the HMAC-SHA256 with the webhook's secret of
`<X-Swarm-Timestamp>.<body>`, and refuses a timestamp older than a few minutes: a body replayed later, or with
another timestamp, does not verify. The secret never leaves the server after it is shown once, and is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import httpx
from django.conf import settings

from agents import hosts
from notifications.errors import Failed, Refused

SIGNATURE_HEADER = "X-Swarm-Signature"
TIMESTAMP_HEADER = "X-Swarm-Timestamp"
DELIVERY_HEADER = "X-Swarm-Delivery"


def check_url(url: str) -> str:
    """`host:port` of a webhook URL the operator allows, or Refused saying why not (and which setting decides)."""
    try:
        return hosts.allowed_host(
            url,
            settings.SWARM_WEBHOOK_HOSTS,
            empty="cannot be used: the operator allows no webhook host (SWARM_WEBHOOK_HOSTS is empty); ask them to "
            "list this one.",
            refused="webhooks (SWARM_WEBHOOK_HOSTS)",
        )
    except hosts.HostRefused as refused:
        raise Refused(refused.message) from None


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def post(url: str, secret: str, body: bytes, delivery_id: int) -> int:
    """POST a signed body once; returns the 2xx status, else raises Failed (Refused for a URL no longer allowed)."""
    check_url(url)  # again at each attempt: the operator may have narrowed the list since the webhook was made
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Swarm-Webhooks/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery_id),
    }
    try:
        # no redirects (a 3xx could point anywhere), no proxy from the environment (the allowlist names the host)
        with httpx.Client(follow_redirects=False, trust_env=False, timeout=settings.SWARM_WEBHOOK_TIMEOUT) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise Failed(f"no answer within {settings.SWARM_WEBHOOK_TIMEOUT:g} s", retry=True) from None
    except httpx.TransportError as exc:
        raise Failed(f"could not connect: {type(exc).__name__}: {exc}"[:300], retry=True) from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    if 300 <= code < 400:
        where = response.headers.get("location", "")[:200]
        raise Failed(
            f"answered {code}, a redirect to {where or 'elsewhere'}: webhooks never follow redirects; use "
            "the final URL",
            retry=False,
            code=code,
        )
    reason = response.text[:200].strip()
    message = f"answered {code}" + (f": {reason}" if reason else "")
    raise Failed(message, retry=code >= 500 or code == 429, code=code)
