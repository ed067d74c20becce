"""Participant identities: checksummed Ethereum addresses, in one canonical order.

Every participant must derive the same order (Shamir x-coordinates, mask signs, the graph), so
the order is fixed here once: ascending by address *value* (the 160-bit number), which is what
the contract gets when it compares ``address`` values. Plain ``sorted()`` of EIP-55 strings would
not do: mixed case makes string order differ from numeric order.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_utils.address import is_checksum_address

from fedchain.secagg.errors import SecAggError

__all__ = ["address_bytes", "canonical_order", "check_address", "order_key"]


def check_address(address: object, what: str = "participant") -> str:
    """``address`` if it is an EIP-55 checksummed address string, else :class:`SecAggError`."""
    if not isinstance(address, str) or not is_checksum_address(address):
        raise SecAggError(f"{what} must be a checksummed Ethereum address, got {address!r}")
    return address


def order_key(address: str) -> int:
    """The sort key of the canonical order: the address as a 160-bit number."""
    return int(address, 16)


def address_bytes(address: str) -> bytes:
    """The 20 raw bytes of ``address`` (for binding it into key derivation and AAD)."""
    return bytes.fromhex(address[2:])


def canonical_order(addresses: Iterable[str]) -> tuple[str, ...]:
    """``addresses`` checked (checksummed, no duplicates) and sorted by address value."""
    checked = [check_address(a) for a in addresses]
    if len({order_key(a) for a in checked}) != len(checked):
        raise SecAggError("participant addresses must be distinct")
    return tuple(sorted(checked, key=order_key))
