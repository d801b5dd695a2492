"""Which hosts a URL a team member wrote may reach: the operator's allowlist, checked in one place.

Model profiles' `api_base` (SWARM_MODEL_HOSTS, agents/model_access.py) and team webhooks (SWARM_WEBHOOK_HOSTS,
notifications/webhooks.py) are both URLs a team member types and the server then calls. Without a list of its own the
server would reach whatever they name: its own loopback services, a cloud metadata address, the internal network.
So the operator lists the hosts, and `allowed_host` accepts a URL only when it is `http(s)://host[:port][/path]` with
the host and port on the list:

- an entry `host` allows the scheme's default port, `host:port` that port, `host:*` any port; names are compared
  exactly (lower case, one trailing dot ignored);
- no user name or password, no query or fragment, nothing but ASCII letters, digits and URL punctuation;
- IP addresses only in their usual form (`10.0.0.5`, `[::1]`), so `127.1`, `2130706433` or `0x7f.0.0.1` are refused
  rather than resolved to something unexpected;
- the HTTP client must read the same host and port as this check, or the check would be about another URL.

Callers never follow redirects, so a call goes to that host and nowhere else.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import httpx

DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
URL_CHARS = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$")
DEFAULT_PORTS = {"http": 80, "https": 443}
# what settings accept in a host list (the entries are parsed again, strictly, by `_entry`)
ENTRY = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:([0-9]{1,5}|\*))?")


class HostRefused(Exception):
    """The URL is malformed or names a host the operator does not allow; `message` completes "<field> ..."."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normal_host(host: str) -> str:
    """`host` as compared with an allowlist, or HostRefused for a form that could mean something else."""
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if ":" in host:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            address = None
        if address is None or address.scope_id:
            raise HostRefused("has an IPv6 address that is not a plain one (like [::1]).")
        return f"[{address.compressed}]"
    if not DNS_NAME.match(host):
        raise HostRefused("must name its host with letters, digits, '-' and '.', or an IP address.")
    last = host.rsplit(".", 1)[-1]
    if last.isdigit() or last.startswith("0x"):  # a name ending in a number is read as an IPv4 address
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = ""
        if canonical != host:
            raise HostRefused("must write an IPv4 address in its usual form, like 10.0.0.5.")
    return host


def _entry(entry: str) -> tuple[str, int | str | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        host, port = normal_host(host), rest[1:] if rest.startswith(":") else None
    else:
        host, _, port = entry.partition(":")
        host, port = normal_host(host), port or None
    return host, port if port in (None, "*") else int(port)


def allowed_host(url: str, allowed: list[str], *, empty: str, refused: str) -> str:
    """`host:port` of a URL whose host `allowed` lists, or HostRefused saying why not.

    `empty` is the refusal when the list is empty; `refused` ends the one for a host not on it
    ("which is not a host the operator allows for <refused>")."""
    if len(url) > 300 or not URL_CHARS.match(url):
        raise HostRefused("must be an http:// or https:// URL without spaces or other characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise HostRefused("must be an http:// or https:// URL.") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise HostRefused("must be an http:// or https:// URL.")
    if "@" in parts.netloc or parsed.userinfo:
        raise HostRefused("must not contain a user name or password.")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise HostRefused("must not have a query or a fragment.")
    host, port = normal_host(parts.hostname), port or DEFAULT_PORTS[parts.scheme]
    if normal_host(parsed.host) != host or (parsed.port or DEFAULT_PORTS[parsed.scheme]) != port:
        raise HostRefused("must be an http:// or https:// URL.")
    return check_listed(host, port, DEFAULT_PORTS[parts.scheme], allowed, empty=empty, refused=refused)


def check_listed(host: str, port: int, default_port: int, allowed: list[str], *, empty: str, refused: str) -> str:
    """`host:port` if `allowed` lists it (`host` already through `normal_host`), else HostRefused as `allowed_host`."""
    where = f"{host}:{port}"
    if not allowed:
        raise HostRefused(empty)
    if any(listed(host, port, default_port, entry) for entry in allowed):
        return where
    raise HostRefused(f"names {where}, which is not a host the operator allows for {refused}.")


def listed(host: str, port: int, default_port: int, entry: str) -> bool:
    """Whether one allowlist entry (`host`, `host:port`, `host:*`) covers `host` on `port`."""
    allowed_name, allowed_port = _entry(entry)
    return allowed_name == host and (allowed_port == "*" or (allowed_port or default_port) == port)
