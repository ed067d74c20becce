"""Aggregation: exact integer FedAvg over fixed-point updates."""

from __future__ import annotations

from fedchain.aggregation.fedavg import (
    AggregationError,
    apply_aggregate,
    divide_round_half_even,
    weighted_sum,
)

__all__ = ["AggregationError", "apply_aggregate", "divide_round_half_even", "weighted_sum"]
