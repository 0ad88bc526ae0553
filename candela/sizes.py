"""Byte sizes: shown to people, and how much data may expand when decoded.

Decompression bombs (zip members, gzip-encoded downloads) are refused by their expansion
ratio, once they are large enough for it to matter.
"""

from .errors import InputError

#: Data that expands more than MAX_RATIO times is refused once it reaches RATIO_FLOOR bytes:
#: small files (XML, blank tiles) legitimately compress very well, and only large ones cost.
MAX_RATIO = 100
RATIO_FLOOR = 2**20


def check_ratio(expanded, compressed, max_ratio, what):
    """Refuse ``what`` when its ``expanded`` bytes are more than ``max_ratio`` times its
    ``compressed`` bytes, once past RATIO_FLOOR."""
    if expanded > RATIO_FLOOR and expanded > max_ratio * max(compressed, 1):
        raise InputError(
            f"{what} expands more than {max_ratio:g} times ({human_size(compressed)} to "
            f"{human_size(expanded)} or more), a likely decompression bomb"
        )


def human_size(n):
    """A byte count as text: ``"512 bytes"``, ``"1.5 MiB"`` (GiB at most)."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
