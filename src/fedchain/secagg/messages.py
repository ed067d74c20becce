"""The protocol's messages, as frozen dataclasses with one canonical byte form each.

Messages live in the content-addressed store and their digests on-chain, so each has exactly
one encoding: JSON with sorted keys, no whitespace, bytes as lowercase hex, integers as JSON
numbers (share values, being up to 521 bits, as fixed-width hex). Decoding refuses anything
else — unknown or missing fields, a wrong ``format`` tag, another task, round or participant
than the one the reader expects, a non-canonical encoding — with :class:`MalformedMessage`,
so a digest names one message and a message cannot be replayed into another round.

- :class:`KeyAdvert` (phase 1): the two ephemeral public keys.
- :class:`KeyShares` (phase 2): sha256 commitment to the self-mask seed, and one sealed share
  bundle per neighbour (the commitment to the mask key is the advertised public key).
- :class:`Complaint` (phase 3, before the masked input): the neighbours whose bundles for the
  complainer failed to open, each with the pairwise mask seed the complainer shares with it.
- :class:`UnmaskShares` (phase 4): for each neighbour, the share of its self-mask seed, or the
  share of its mask key and/or the pairwise seed with it — never a self-mask share together
  with anything that removes its pairwise masks — and the neighbours whose bundles were bad.
- :class:`ShareBundle`: the plaintext inside one sealed bundle (binary, fixed length).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from fedchain.secagg.addresses import check_address, order_key
from fedchain.secagg.aead import OVERHEAD
from fedchain.secagg.errors import MalformedMessage, SecAggError
from fedchain.secagg.keys import KEY_BYTES, check_round, check_task_id
from fedchain.secagg.prg import SEED_BYTES
from fedchain.secagg.shamir import PRIME, SHARE_BYTES

__all__ = [
    "BUNDLE_BYTES",
    "SEALED_BUNDLE_BYTES",
    "Complaint",
    "KeyAdvert",
    "KeyShares",
    "Share",
    "ShareBundle",
    "UnmaskShares",
]

Share = tuple[int, int]
"""A Shamir share ``(x, y)``."""

BUNDLE_BYTES = 4 + 2 * SHARE_BYTES
"""Plaintext of a bundle: x (4 B) ‖ share of the self-mask seed ‖ share of the mask key."""
SEALED_BUNDLE_BYTES = BUNDLE_BYTES + OVERHEAD
"""A sealed bundle: nonce ‖ ciphertext ‖ tag."""
_MAX_X = 2**32 - 1


def _fail(kind: str, problem: str) -> MalformedMessage:
    return MalformedMessage(f"{kind}: {problem}")


def _check_header(kind: str, task_id: object, round: object, participant: object) -> None:
    try:
        check_task_id(task_id)
        check_round(round)
        _address(kind, participant, "participant")
    except SecAggError as exc:
        raise _fail(kind, str(exc)) from None


def _address(kind: str, value: object, what: str) -> str:
    try:
        return check_address(value, what)
    except SecAggError as exc:
        raise _fail(kind, str(exc)) from None


def _raw(kind: str, value: object, what: str, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise _fail(kind, f"{what} must be {length} bytes")
    return bytes(value)


def _share(kind: str, value: object, what: str) -> Share:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise _fail(kind, f"{what} must be an (x, y) pair")
    x, y = value
    if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= _MAX_X:
        raise _fail(kind, f"{what}: x must be an int in [1, 2**32), got {x!r}")
    if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < PRIME:
        raise _fail(kind, f"{what}: y must be an int in [0, 2**521 − 1)")
    return (x, y)


def _frozen_map(kind: str, mapping: object, what: str) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise _fail(kind, f"{what} must be a mapping keyed by address")
    keys = [_address(kind, a, f"{what} key") for a in mapping]
    return MappingProxyType({a: mapping[a] for a in sorted(keys, key=order_key)})


def _seed_map(kind: str, mapping: object, what: str, owner: str) -> Mapping[str, bytes]:
    """An address -> 32-byte pairwise seed map, frozen; ``owner`` has no seed with itself."""
    seeds = _frozen_map(kind, mapping, what)
    if owner in seeds:
        raise _fail(kind, f"{what}: a participant has no pairwise seed with itself")
    return MappingProxyType(
        {peer: _raw(kind, seed, f"{what}[{peer}]", SEED_BYTES) for peer, seed in seeds.items()}
    )


def _decode_seed_map(kind: str, value: object, what: str) -> dict[str, bytes]:
    if not isinstance(value, dict):
        raise _fail(kind, f"{what} must be an object keyed by address")
    return {peer: _unhex(kind, seed, f"{what}[{peer}]", SEED_BYTES) for peer, seed in value.items()}


# --- canonical JSON -------------------------------------------------------------------------


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _loads(kind: str, data: bytes, fields: set[str], format_tag: str) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail(kind, f"expected bytes, got {type(data).__name__}")
    try:
        obj = json.loads(bytes(data).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(kind, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _fail(kind, "top level must be a JSON object")
    if obj.get("format") != format_tag:
        raise _fail(kind, f"format must be {format_tag!r}, got {obj.get('format')!r}")
    missing, unknown = fields - obj.keys(), obj.keys() - fields
    if missing:
        raise _fail(kind, f"missing field(s): {', '.join(sorted(missing))}")
    if unknown:
        raise _fail(kind, f"unknown field(s): {', '.join(sorted(unknown))}")
    return obj


def _unhex(kind: str, value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise _fail(kind, f"{what} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise _fail(kind, f"{what} is not valid hex") from None
    if length is not None and len(raw) != length:
        raise _fail(kind, f"{what} must be {length} bytes, got {len(raw)}")
    return raw


def _json_int(kind: str, value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(kind, f"{what} must be an integer")
    return value


def _expect(
    kind: str, msg: Any, data: bytes, *, task_id: int, round: int, participant: str
) -> None:
    """The decoded message is for the expected task/round/participant and was canonical."""
    if msg.task_id != task_id or msg.round != round:
        raise _fail(
            kind,
            f"is for task {msg.task_id} round {msg.round}, expected task {task_id} round {round}",
        )
    if msg.participant != participant:
        raise _fail(kind, f"is from {msg.participant}, expected {participant}")
    if msg.to_bytes() != bytes(data):
        raise _fail(kind, "not in canonical form (sorted keys, no spaces, lowercase hex)")


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyAdvert:
    """Phase 1: ``participant`` advertises its two ephemeral X25519 public keys for the round."""

    FORMAT: ClassVar[str] = "fedchain/secagg/key-advert/v1"
    _KIND: ClassVar[str] = "key advert"

    task_id: int
    round: int
    participant: str
    enc_pk: bytes
    mask_pk: bytes

    def __post_init__(self) -> None:
        _check_header(self._KIND, self.task_id, self.round, self.participant)
        _raw(self._KIND, self.enc_pk, "enc_pk", KEY_BYTES)
        _raw(self._KIND, self.mask_pk, "mask_pk", KEY_BYTES)
        if self.enc_pk == self.mask_pk:
            raise _fail(self._KIND, "enc_pk and mask_pk must differ (one key, one role)")

    def to_bytes(self) -> bytes:
        return _dumps(
            {
                "format": self.FORMAT,
                "task_id": self.task_id,
                "round": self.round,
                "participant": self.participant,
                "enc_pk": self.enc_pk.hex(),
                "mask_pk": self.mask_pk.hex(),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, task_id: int, round: int, participant: str) -> KeyAdvert:
        """Decode, refusing anything malformed or not from ``participant`` for this round."""
        k = cls._KIND
        obj = _loads(
            k, data, {"format", "task_id", "round", "participant", "enc_pk", "mask_pk"}, cls.FORMAT
        )
        msg = cls(
            task_id=_json_int(k, obj["task_id"], "task_id"),
            round=_json_int(k, obj["round"], "round"),
            participant=obj["participant"],
            enc_pk=_unhex(k, obj["enc_pk"], "enc_pk", KEY_BYTES),
            mask_pk=_unhex(k, obj["mask_pk"], "mask_pk", KEY_BYTES),
        )
        _expect(k, msg, data, task_id=task_id, round=round, participant=participant)
        return msg


@dataclass(frozen=True)
class KeyShares:
    """Phase 2: commitment to the self-mask seed and one sealed share bundle per neighbour."""

    FORMAT: ClassVar[str] = "fedchain/secagg/key-shares/v1"
    _KIND: ClassVar[str] = "key shares"

    task_id: int
    round: int
    participant: str
    self_mask_commitment: bytes
    ciphertexts: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self._KIND
        _check_header(k, self.task_id, self.round, self.participant)
        _raw(k, self.self_mask_commitment, "self_mask_commitment", 32)
        cts = _frozen_map(k, self.ciphertexts, "ciphertexts")
        if self.participant in cts:
            raise _fail(k, "a participant does not send shares to itself")
        for recipient, ct in cts.items():
            _raw(k, ct, f"ciphertext for {recipient}", SEALED_BUNDLE_BYTES)
        object.__setattr__(self, "ciphertexts", cts)

    def to_bytes(self) -> bytes:
        return _dumps(
            {
                "format": self.FORMAT,
                "task_id": self.task_id,
                "round": self.round,
                "participant": self.participant,
                "self_mask_commitment": self.self_mask_commitment.hex(),
                "ciphertexts": {r: bytes(c).hex() for r, c in self.ciphertexts.items()},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, task_id: int, round: int, participant: str) -> KeyShares:
        """Decode, refusing anything malformed or not from ``participant`` for this round."""
        k = cls._KIND
        fields_ = {
            "format",
            "task_id",
            "round",
            "participant",
            "self_mask_commitment",
            "ciphertexts",
        }
        obj = _loads(k, data, fields_, cls.FORMAT)
        cts = obj["ciphertexts"]
        if not isinstance(cts, dict):
            raise _fail(k, "ciphertexts must be an object keyed by address")
        msg = cls(
            task_id=_json_int(k, obj["task_id"], "task_id"),
            round=_json_int(k, obj["round"], "round"),
            participant=obj["participant"],
            self_mask_commitment=_unhex(k, obj["self_mask_commitment"], "self_mask_commitment", 32),
            ciphertexts={r: _unhex(k, c, f"ciphertext for {r}") for r, c in cts.items()},
        )
        _expect(k, msg, data, task_id=task_id, round=round, participant=participant)
        return msg


@dataclass(frozen=True)
class Complaint:
    """Phase 3: ``participant`` (j, in U2) could not open the bundles of the neighbours in ``seeds``.

    A bundle fails to open when it is missing, fails AEAD authentication, does not decode or
    carries another x. j then holds no share of the accused neighbour l's self-mask seed b_l,
    and says so publicly — before committing its masked input — so that everyone can tell
    from the chain alone whether b_l can still be rebuilt (see ``fedchain.secagg.complaints``).

    ``seeds[l]`` is s_jl, the pairwise mask seed j shares with l. Revealing it is safe: l
    knows it already, and if j lies about l, j is malicious and knew it anyway; it only takes
    off the one mask between j and l. It lets the aggregator remove that mask when l's input
    is excluded, without l's self-mask seed ever being revealed.
    """

    FORMAT: ClassVar[str] = "fedchain/secagg/complaint/v1"
    _KIND: ClassVar[str] = "complaint"

    task_id: int
    round: int
    participant: str
    seeds: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self._KIND
        _check_header(k, self.task_id, self.round, self.participant)
        seeds = _seed_map(k, self.seeds, "seeds", self.participant)
        if not seeds:
            raise _fail(k, "accuses nobody (send no complaint instead)")
        object.__setattr__(self, "seeds", seeds)

    @property
    def accused(self) -> frozenset[str]:
        """The neighbours whose bundles failed to open."""
        return frozenset(self.seeds)

    def to_bytes(self) -> bytes:
        return _dumps(
            {
                "format": self.FORMAT,
                "task_id": self.task_id,
                "round": self.round,
                "participant": self.participant,
                "seeds": {peer: seed.hex() for peer, seed in self.seeds.items()},
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, task_id: int, round: int, participant: str) -> Complaint:
        """Decode, refusing anything malformed or not from ``participant`` for this round."""
        k = cls._KIND
        obj = _loads(k, data, {"format", "task_id", "round", "participant", "seeds"}, cls.FORMAT)
        msg = cls(
            task_id=_json_int(k, obj["task_id"], "task_id"),
            round=_json_int(k, obj["round"], "round"),
            participant=obj["participant"],
            seeds=_decode_seed_map(k, obj["seeds"], "seeds"),
        )
        _expect(k, msg, data, task_id=task_id, round=round, participant=participant)
        return msg


@dataclass(frozen=True)
class UnmaskShares:
    """Phase 4: what one survivor j reveals about its neighbours, and who sent it bad bundles.

    ``self_mask_shares``: j's share of b_l for included neighbours l (and of its own b_j if
    j is included). ``mask_key_shares``: j's share of the mask key of neighbours that shared
    keys but sent no masked input (U2 \\ U3). ``pairwise_seeds``: s_jl for neighbours whose
    masked input is excluded or missing. No owner may have a self-mask share together with a
    mask-key share or a pairwise seed — with both, the aggregator could unmask its input.
    """

    FORMAT: ClassVar[str] = "fedchain/secagg/unmask-shares/v2"
    _KIND: ClassVar[str] = "unmask shares"

    task_id: int
    round: int
    participant: str
    self_mask_shares: Mapping[str, Share] = field(default_factory=dict)
    mask_key_shares: Mapping[str, Share] = field(default_factory=dict)
    bad_senders: tuple[str, ...] = ()
    pairwise_seeds: Mapping[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self._KIND
        _check_header(k, self.task_id, self.round, self.participant)
        selfs = MappingProxyType(
            {
                o: _share(k, s, f"share of {o}")
                for o, s in _frozen_map(k, self.self_mask_shares, "self_mask_shares").items()
            }
        )
        keys = MappingProxyType(
            {
                o: _share(k, s, f"share of {o}")
                for o, s in _frozen_map(k, self.mask_key_shares, "mask_key_shares").items()
            }
        )
        seeds = _seed_map(k, self.pairwise_seeds, "pairwise_seeds", self.participant)
        both = selfs.keys() & (keys.keys() | seeds.keys())
        if both:
            raise _fail(
                k,
                f"reveals both secrets of {', '.join(sorted(both))} (never both for one participant)",
            )
        if not isinstance(self.bad_senders, tuple | list):
            raise _fail(k, "bad_senders must be a sequence of addresses")
        bad = [_address(k, a, "bad sender") for a in self.bad_senders]
        if len(set(bad)) != len(bad):
            raise _fail(k, "bad_senders has duplicates")
        # A bad sender may have a pairwise seed revealed, never a share (we hold no valid one).
        overlap = set(bad) & (selfs.keys() | keys.keys())
        if overlap:
            raise _fail(k, f"{', '.join(sorted(overlap))} both a bad sender and a share owner")
        if self.participant in keys.keys() | set(bad):
            raise _fail(k, "a participant holds no share of its own mask key")
        object.__setattr__(self, "self_mask_shares", selfs)
        object.__setattr__(self, "mask_key_shares", keys)
        object.__setattr__(self, "pairwise_seeds", seeds)
        object.__setattr__(self, "bad_senders", tuple(sorted(bad, key=order_key)))

    def to_bytes(self) -> bytes:
        def enc(m: Mapping[str, Share]) -> dict[str, list[Any]]:
            return {o: [x, y.to_bytes(SHARE_BYTES, "big").hex()] for o, (x, y) in m.items()}

        return _dumps(
            {
                "format": self.FORMAT,
                "task_id": self.task_id,
                "round": self.round,
                "participant": self.participant,
                "self_mask_shares": enc(self.self_mask_shares),
                "mask_key_shares": enc(self.mask_key_shares),
                "pairwise_seeds": {peer: seed.hex() for peer, seed in self.pairwise_seeds.items()},
                "bad_senders": list(self.bad_senders),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, task_id: int, round: int, participant: str) -> UnmaskShares:
        """Decode, refusing anything malformed or not from ``participant`` for this round."""
        k = cls._KIND
        fields_ = {
            "format",
            "task_id",
            "round",
            "participant",
            "self_mask_shares",
            "mask_key_shares",
            "pairwise_seeds",
            "bad_senders",
        }
        obj = _loads(k, data, fields_, cls.FORMAT)

        def dec(value: object, what: str) -> dict[str, Share]:
            if not isinstance(value, dict):
                raise _fail(k, f"{what} must be an object keyed by address")
            out: dict[str, Share] = {}
            for owner, pair in value.items():
                if not isinstance(pair, list) or len(pair) != 2:
                    raise _fail(k, f"{what}[{owner}] must be [x, y-hex]")
                x = _json_int(k, pair[0], f"{what}[{owner}] x")
                y = int.from_bytes(_unhex(k, pair[1], f"{what}[{owner}] y", SHARE_BYTES), "big")
                out[owner] = (x, y)
            return out

        bad = obj["bad_senders"]
        if not isinstance(bad, list):
            raise _fail(k, "bad_senders must be a list of addresses")
        msg = cls(
            task_id=_json_int(k, obj["task_id"], "task_id"),
            round=_json_int(k, obj["round"], "round"),
            participant=obj["participant"],
            self_mask_shares=dec(obj["self_mask_shares"], "self_mask_shares"),
            mask_key_shares=dec(obj["mask_key_shares"], "mask_key_shares"),
            pairwise_seeds=_decode_seed_map(k, obj["pairwise_seeds"], "pairwise_seeds"),
            bad_senders=tuple(bad),
        )
        _expect(k, msg, data, task_id=task_id, round=round, participant=participant)
        return msg


@dataclass(frozen=True)
class ShareBundle:
    """What one sealed bundle carries to a neighbour: its x and a share of each secret."""

    x: int
    self_mask_share: int
    mask_key_share: int

    def __post_init__(self) -> None:
        _share("share bundle", (self.x, self.self_mask_share), "self-mask share")
        _share("share bundle", (self.x, self.mask_key_share), "mask-key share")

    def to_bytes(self) -> bytes:
        return (
            self.x.to_bytes(4, "big")
            + self.self_mask_share.to_bytes(SHARE_BYTES, "big")
            + self.mask_key_share.to_bytes(SHARE_BYTES, "big")
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ShareBundle:
        if len(data) != BUNDLE_BYTES:
            raise MalformedMessage(f"share bundle must be {BUNDLE_BYTES} bytes, got {len(data)}")
        return cls(
            x=int.from_bytes(data[:4], "big"),
            self_mask_share=int.from_bytes(data[4 : 4 + SHARE_BYTES], "big"),
            mask_key_share=int.from_bytes(data[4 + SHARE_BYTES :], "big"),
        )
