"""Device identity in a generated fleet: IP addresses per site and unique, scattered serial numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final

# Per-site /16 blocks in 10.0.0.0/8; hosts skip .0 and .255 in the last octet.
HOSTS_PER_BLOCK: Final = 256 * 254
FIRST_SECOND_OCTET: Final = 1
LAST_SECOND_OCTET: Final = 255

SERIAL_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_CODE_LENGTH: Final = 7
SERIAL_SPACE: Final = 36**SERIAL_CODE_LENGTH
# Coprime with 36, so index -> (index * step + offset) mod 36**7 is a bijection: serials are
# unique by construction yet look scattered.
SERIAL_STEP: Final = 2_654_435_761


def site_first_octets(devices_per_site: Sequence[int]) -> list[int]:
    """First second octet of each site's contiguous run of /16 blocks in 10.0.0.0/8."""
    firsts, next_octet = [], FIRST_SECOND_OCTET
    for count in devices_per_site:
        firsts.append(next_octet)
        next_octet += max(1, -(-count // HOSTS_PER_BLOCK))
    if next_octet - 1 > LAST_SECOND_OCTET:
        raise ValueError(
            f"{len(devices_per_site)} sites with {sum(devices_per_site)} devices need "
            f"{next_octet - FIRST_SECOND_OCTET} /16 blocks but 10.0.0.0/8 has "
            f"{LAST_SECOND_OCTET - FIRST_SECOND_OCTET + 1}; use fewer sites or devices"
        )
    return firsts


def ip_address(first_octet: int, host_index: int) -> str:
    """The `host_index`-th address of a site whose blocks start at 10.<first_octet>.0.0."""
    block, within = divmod(host_index, HOSTS_PER_BLOCK)
    third, fourth = divmod(within, 254)
    return f"10.{first_octet + block}.{third}.{fourth + 1}"


def _base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits.append(SERIAL_ALPHABET[digit])
    return "".join(reversed(digits))


def serial_number(prefix: str, manufactured: date, index: int, offset: int) -> str:
    """Vendor prefix, YYWW of manufacture, then a code unique per device index."""
    code = (index * SERIAL_STEP + offset) % SERIAL_SPACE
    iso = manufactured.isocalendar()
    return f"{prefix}{iso.year % 100:02d}{iso.week:02d}{_base36(code, SERIAL_CODE_LENGTH)}"
