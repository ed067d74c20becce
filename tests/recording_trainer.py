"""A secure trainer that remembers its plaintext updates, so tests can compare with plaintext."""

from __future__ import annotations

import numpy as np

from fedchain.node.secure import SecureTrainerNode


class RecordingTrainer(SecureTrainerNode):
    """A secure trainer that also keeps, in memory, the plaintext update it masks each round."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.updates: dict[int, np.ndarray] = {}

    def compute_update(self, base_root: bytes, round: int) -> tuple[np.ndarray, float]:
        update, loss = super().compute_update(base_root, round)
        self.updates[round] = update.copy()
        return update, loss
