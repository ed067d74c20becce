"""Errors of the secure-aggregation layer.

One base class, :class:`SecAggError`, so that a node can tell "this round cannot be completed
securely" (abort the round cleanly) from a bug; subclasses name the broken rule so that bad input
can be recorded against the participant who sent it.
"""

from __future__ import annotations

from fedchain.errors import FedchainError

__all__ = [
    "MalformedMessage",
    "SecAggError",
    "ShareAuthenticationError",
    "UnmaskFailure",
]


class SecAggError(FedchainError):
    """Secure aggregation refused an input or cannot complete the round securely."""


class MalformedMessage(SecAggError):
    """A protocol message does not decode, or belongs to another task, round or participant."""


class ShareAuthenticationError(SecAggError):
    """An encrypted share bundle failed authentication (tampered, or not meant for us)."""

    def __init__(self, message: str, *, sender: str, recipient: str) -> None:
        super().__init__(message)
        self.sender = sender
        self.recipient = recipient


class UnmaskFailure(SecAggError):
    """The aggregator could not reconstruct every secret it needs: the round must abort.

    ``unrecoverable`` names the participants whose self-mask seed or mask key could not be
    reconstructed (fewer than ``threshold`` valid shares), so the caller can record them.
    """

    def __init__(self, message: str, *, unrecoverable: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.unrecoverable = unrecoverable
