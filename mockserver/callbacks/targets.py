"""Which callback URLs the mock will POST to (docs/security.md, "Callback URLs").

A callback makes the mock send a request wherever a client says, so a client could aim it at the
mock itself (``/__admin/reset`` wiped every key's tasks) or at addresses a laptop or CI runner can
reach and the client cannot (a cloud metadata service). Refused by default:

- the mock itself (its listening address, the Host it was reached by, its public URL), any path;
- any ``/__admin`` path, on any host;
- link-local addresses (169.254.0.0/16, with the cloud metadata service, and fe80::/10) and the
  metadata host names; unspecified (0.0.0.0, ::), multicast, broadcast and reserved addresses;
- IPv4 addresses spelt in a non-standard form (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``),
  which resolvers read as other addresses than a reader expects;
- URLs with spaces or control characters.

Allowed, because a mock in CI calls back to receivers next to it: loopback (127.0.0.0/8, ::1,
localhost) on another port than the mock's, private networks (10/8, 172.16/12, 192.168/16,
fc00::/7: containers of one compose file), and every public name or address. Host names are not
resolved (no DNS at submit time): a name that resolves to a refused address is not caught.
``allow_any`` (Settings.unsafe_callback_urls) lifts the address rules; the mock itself and admin
paths stay refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["CallbackTargetRefused", "check_callback_target"]

_METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.I)
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class CallbackTargetRefused(ValueError):
    """A callback URL the mock will not call: the message says why."""


def check_callback_target(url: str, own: Iterable[tuple[str, int]] = (), allow_any: bool = False) -> None:
    """Refuse (CallbackTargetRefused) a callback URL by the rules above.

    ``own``: (host, port) pairs the mock is reached at.
    """
    if _SPACE_OR_CONTROL.search(url):
        raise CallbackTargetRefused("contains spaces or control characters")
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackTargetRefused("has an invalid port") from None
    if parts.path.startswith("/__admin"):
        raise CallbackTargetRefused("names the mock's admin API (/__admin)")
    ip = _ip(host)
    if _is_self(host, ip, port, own):
        raise CallbackTargetRefused(f"names this mock itself ({host}:{port})")
    if allow_any:
        return
    if ip is None and _NUMERIC_HOST.match(host):
        raise CallbackTargetRefused(f"spells an IP address in a non-standard form ({host!r}); write it as a.b.c.d")
    if host in _METADATA_HOSTS:
        raise CallbackTargetRefused(f"names a cloud metadata service ({host})")
    if ip is not None:
        reason = _refused_address(ip)
        if reason is not None:
            raise CallbackTargetRefused(f"names {reason} address ({ip})")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _refused_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "an unspecified"
    if ip.is_link_local:
        return "a link-local (cloud metadata)"
    if ip.is_multicast:
        return "a multicast"
    if ip == _BROADCAST:
        return "a reserved"
    if ip.is_loopback or ip.is_private:  # (ipaddress counts some reserved ranges as private)
        return None
    if ip.is_reserved:
        return "a reserved"
    return None


def _is_self(host: str, ip, port: int, own: Iterable[tuple[str, int]]) -> bool:
    local = host in _LOOPBACK_NAMES or (ip is not None and (ip.is_loopback or ip.is_unspecified))
    for own_host, own_port in own:
        if own_port != port:
            continue
        own_host = own_host.strip("[]").rstrip(".").lower()
        own_ip = _ip(own_host)
        if own_host == host or (ip is not None and own_ip == ip):
            return True
        own_local = own_host in _LOOPBACK_NAMES or (
            own_ip is not None and (own_ip.is_loopback or own_ip.is_unspecified)
        )
        if local and own_local:
            return True
    return False
