"""Which hosts references may be fetched from: public addresses, plus those an operator allows.

A reference names a host; the server, not the user, decides whether it may connect there.
By default only public (globally routable, unicast) addresses are admitted, so a user cannot
make the server reach loopback, private networks, link-local metadata services and the like.
An operator admits internal hosts by name (whatever they resolve to) or by network.
"""

import ipaddress
import re
import socket

#: NAT64 embeds an IPv4 address in the last 32 bits of this prefix.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


class HostRefused(Exception):
    """A host that may not be fetched from, or cannot be resolved; the text is for the server log."""


def _embedded_ipv4(ip):
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_not_public(address):
    """Why ``address`` is not a public unicast address (e.g. ``"loopback"``), or None if it is."""
    ip = ipaddress.ip_address(address)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = why_not_public(embedded)
        return reason and f"{reason} (embedded in {ip})"
    for reason in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved", "site_local"):
        if getattr(ip, f"is_{reason}", False):
            return reason.replace("_", "-")
    if not ip.is_global:  # e.g. shared address space 100.64.0.0/10
        return "not globally routable"
    return None


class HostPolicy:
    """Public addresses, plus the host names and networks an operator allows.

    A host name entry admits that name whatever it resolves to; a network admits the
    addresses in it (an IPv4-mapped IPv6 address counts as its IPv4 address).
    """

    def __init__(self, names=(), networks=()):
        self.names = frozenset(_normal_name(name) for name in names)
        self.networks = tuple(ipaddress.ip_network(network, strict=False) for network in networks)

    @classmethod
    def parse(cls, text):
        """A policy from ``[candela] allowedhosts``: names and CIDR networks, comma-separated.

        A malformed entry is a ValueError (the operator's mistake, not the user's).
        """
        names, networks = [], []
        for entry in re.split(r"[,\s]+", text or ""):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not _HOST_NAME.match(_normal_name(entry)):
                    raise ValueError(f"allowedhosts: {entry!r} is neither a host name nor a network") from None
                names.append(entry)
        return cls(names, networks)

    def why_refused(self, address):
        """Why the policy refuses ``address``, or None when it is admitted."""
        ip = ipaddress.ip_address(address)
        candidates = [ip] + [e for e in [_embedded_ipv4(ip)] if e is not None]
        if any(candidate in network for candidate in candidates for network in self.networks):
            return None
        return why_not_public(ip)

    def addresses_for(self, host, port):
        """Resolve ``host`` once and return the addresses to connect to, or raise HostRefused.

        Every address the name resolves to must be admitted, so which one is connected
        cannot matter. The caller must connect to an address returned, not to the name:
        resolving again could give another answer (DNS rebinding).
        """
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise HostRefused(f"{host} cannot be resolved ({error})") from None
        addresses = list(dict.fromkeys(info[4][0] for info in found))
        if not addresses:
            raise HostRefused(f"{host} resolves to no address")
        if _normal_name(host) not in self.names:
            for address in addresses:
                reason = self.why_refused(address)
                if reason:
                    raise HostRefused(f"{host} resolves to {address}, which is {reason} and not in allowedhosts")
        return addresses


def _normal_name(name):
    return name.strip().lower().rstrip(".")
