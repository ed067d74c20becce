"""What every participant of one round agrees on, read from the chain: :class:`RoundContext`.

The contract is the bulletin board: it fixes the participant sets and the round's seed
identically for everyone. That is what makes the consistency check of the original protocol
unnecessary — the aggregator cannot show two participants two different survivor sets — and
it is why everything derived here (order, x-coordinates, neighbours) needs no message.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from fedchain.secagg.addresses import canonical_order, check_address
from fedchain.secagg.errors import SecAggError
from fedchain.secagg.graph import choose_parameters, neighbours
from fedchain.secagg.keys import check_round, check_task_id

__all__ = ["RoundContext"]


@dataclass(frozen=True)
class RoundContext:
    """One round's public parameters: ``participants`` is U1 in canonical order.

    ``seed`` is the round's 32-byte on-chain randomness (fixed after U1), ``k`` the number of
    neighbours each participant masks with, ``threshold`` the Shamir threshold t. Shamir
    x-coordinate of a participant = 1 + its index in ``participants``. ``graph_order`` is U1
    in the order the neighbour graph is drawn over: the order of advertisement on-chain (each
    member's index there is on-chain, so a dispute can recompute one edge), or canonical
    order when empty.
    """

    task_id: int
    round: int
    participants: tuple[str, ...]
    seed: bytes
    k: int
    threshold: int
    graph_order: tuple[str, ...] = ()
    _graph: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_task_id(self.task_id)
        check_round(self.round)
        if not isinstance(self.participants, tuple):
            raise SecAggError("participants must be a tuple (U1 in canonical order)")
        ordered = canonical_order(self.participants)
        if ordered != self.participants:
            raise SecAggError(
                "participants must be in canonical order (ascending address value); "
                "use RoundContext.for_round to sort them"
            )
        n = len(ordered)
        if n < 3:
            raise SecAggError(f"secure aggregation needs at least 3 participants, got {n}")
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise SecAggError("round seed must be 32 bytes")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise SecAggError(f"threshold must be an int, got {self.threshold!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise SecAggError(f"k must be an int, got {self.k!r}")
        if not 2 <= self.threshold <= self.k:
            raise SecAggError(f"threshold must be in [2, k] = [2, {self.k}], got {self.threshold}")
        if not isinstance(self.graph_order, tuple):
            raise SecAggError("graph_order must be a tuple (U1 in the order of advertisement)")
        if self.graph_order and sorted(self.graph_order) != sorted(ordered):
            raise SecAggError("graph_order must hold exactly the participants, each once")
        drawn = self.graph_order or ordered
        object.__setattr__(self, "_graph", neighbours(drawn, k=self.k, seed=self.seed))
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(ordered)})

    @classmethod
    def for_round(
        cls,
        *,
        task_id: int,
        round: int,
        u1: Iterable[str],
        seed: bytes,
        k: int | None = None,
        threshold: int | None = None,
        graph_order: Sequence[str] | None = None,
    ) -> RoundContext:
        """The context for participant set ``u1`` (any order), with default (k, t) from its size;
        ``graph_order`` is U1 in the order of advertisement (default: canonical order)."""
        participants = canonical_order(u1)
        default_k, default_t = choose_parameters(len(participants))
        return cls(
            task_id=task_id,
            round=round,
            participants=participants,
            seed=seed,
            k=default_k if k is None else k,
            threshold=(default_t if k is None else k // 2 + 1) if threshold is None else threshold,
            graph_order=tuple(graph_order) if graph_order is not None else (),
        )

    def check_member(self, address: str) -> str:
        """``address`` if it is one of this round's participants, else :class:`SecAggError`."""
        if address in self._index:
            return address  # already a checked participant: skip the checksum hash
        if check_address(address) not in self._index:
            raise SecAggError(
                f"{address} is not a participant of task {self.task_id} round {self.round}"
            )
        return address

    def neighbours_of(self, address: str) -> frozenset[str]:
        """The participants ``address`` masks with and shares its secrets among."""
        return self._graph[self.check_member(address)]

    def x_of(self, address: str) -> int:
        """Shamir x-coordinate of ``address``: 1 + its index in canonical order."""
        return 1 + self._index[self.check_member(address)]

    def check_sets(
        self, u2: Collection[str], u3: Collection[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """``(U2, U3)`` as frozensets once checked: U3 ⊆ U2 ⊆ U1."""
        s2, s3 = frozenset(u2), frozenset(u3)
        for a in s2:
            self.check_member(a)
        if not s3 <= s2:
            extra = sorted(s3 - s2)
            raise SecAggError(f"U3 must be a subset of U2; not in U2: {', '.join(extra)}")
        return s2, s3
