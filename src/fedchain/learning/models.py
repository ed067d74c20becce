"""Model specifications, deterministic construction and flat parameter vectors.

The rest of fedchain never handles a torch module directly: it handles a :class:`ModelSpec`
(small, JSON-safe, content-addressable, what a sponsor publishes) and a flat float32 vector of
parameters (what gets encoded, committed and aggregated). The flat order is the order of
``model.state_dict()`` keys, so any two machines that build the same spec agree on which number
is which weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from fedchain.errors import FedchainError

__all__ = [
    "Arch",
    "ModelSpec",
    "ModelSpecError",
    "ParameterLengthError",
    "build_model",
    "flatten_params",
    "load_flat_params",
    "num_parameters",
    "spec_for_parameter_count",
]

Arch = Literal["logreg", "mlp"]
_ARCHS: tuple[str, ...] = get_args(Arch)
_SPEC_KEYS = frozenset({"arch", "input_dim", "num_classes", "hidden"})


class ModelSpecError(FedchainError):
    """A model specification that does not describe a buildable model."""


class ParameterLengthError(FedchainError):
    """A flat parameter vector whose length or shape does not fit the model."""


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


@dataclass(frozen=True)
class ModelSpec:
    """What to build: ``logreg`` is one linear layer, ``mlp`` is Linear+ReLU per hidden width.

    ``hidden`` must be empty for ``logreg`` and non-empty for ``mlp`` so that one model has
    exactly one spelling (and therefore one content digest).
    """

    arch: Arch
    input_dim: int
    num_classes: int
    hidden: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.arch not in _ARCHS:
            raise ModelSpecError(f"arch must be one of {_ARCHS}, got {self.arch!r}")
        if not _is_int(self.input_dim) or self.input_dim < 1:
            raise ModelSpecError(f"input_dim must be an int >= 1, got {self.input_dim!r}")
        if not _is_int(self.num_classes) or self.num_classes < 2:
            raise ModelSpecError(f"num_classes must be an int >= 2, got {self.num_classes!r}")
        if isinstance(self.hidden, str | bytes) or not isinstance(self.hidden, tuple | list):
            raise ModelSpecError(f"hidden must be a tuple of ints, got {self.hidden!r}")
        if any(not _is_int(h) or h < 1 for h in self.hidden):
            raise ModelSpecError(f"hidden widths must be ints >= 1, got {self.hidden!r}")
        if self.arch == "logreg" and self.hidden:
            raise ModelSpecError(f"logreg has no hidden layers, got hidden={self.hidden!r}")
        if self.arch == "mlp" and not self.hidden:
            raise ModelSpecError("mlp needs at least one hidden layer (use arch='logreg')")
        # Normalise to plain Python ints so equality, hashing and JSON never depend on how
        # the spec was spelled (list vs tuple, numpy vs Python ints).
        object.__setattr__(self, "input_dim", int(self.input_dim))
        object.__setattr__(self, "num_classes", int(self.num_classes))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def layer_sizes(self) -> list[int]:
        """Widths from input to output, e.g. ``[30, 32, 2]``."""
        return [self.input_dim, *self.hidden, self.num_classes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (``hidden`` as a list); ``from_dict`` inverts it."""
        return {
            "arch": self.arch,
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "hidden": list(self.hidden),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Parse a dict made by :meth:`to_dict` (e.g. after JSON); unknown keys are refused."""
        if not isinstance(data, dict):
            raise ModelSpecError(f"model spec must be a dict, got {type(data).__name__}")
        unknown = set(data) - _SPEC_KEYS
        if unknown:
            raise ModelSpecError(f"unknown model spec keys: {sorted(unknown)}")
        missing = {"arch", "input_dim", "num_classes"} - set(data)
        if missing:
            raise ModelSpecError(f"missing model spec keys: {sorted(missing)}")
        hidden = data.get("hidden", [])
        if not isinstance(hidden, list | tuple):
            raise ModelSpecError(f"hidden must be a list of ints, got {hidden!r}")
        return cls(
            arch=data["arch"],
            input_dim=data["input_dim"],
            num_classes=data["num_classes"],
            hidden=tuple(hidden),
        )


def num_parameters(spec: ModelSpec) -> int:
    """Parameter count (weights + biases) from the spec alone, without building the model."""
    sizes = spec.layer_sizes()
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False))


def build_model(spec: ModelSpec, *, seed: int) -> nn.Module:
    """Build the model with weights drawn from a generator seeded by ``seed``.

    Same init distribution as torch's default for ``nn.Linear`` (uniform in
    ±1/sqrt(fan_in) for weights and biases), but drawn from a private ``torch.Generator``: the
    same spec and seed give bit-identical weights everywhere, and the global torch RNG is
    neither read nor advanced (nodes may run as threads in one process).
    """
    gen = torch.Generator().manual_seed(int(seed))
    sizes = spec.layer_sizes()
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        # skip_init: no default initialisation, hence no draw from the global RNG.
        linear = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out, dtype=torch.float32)
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=gen)
            linear.bias.uniform_(-bound, bound, generator=gen)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def flatten_params(model: nn.Module) -> np.ndarray:
    """All of ``model.state_dict()`` as one new float32 1-D array, in key order."""
    tensors = [t.detach().reshape(-1).to(torch.float32) for t in model.state_dict().values()]
    if not tensors:
        return np.zeros(0, dtype=np.float32)
    return torch.cat(tensors).cpu().numpy().copy()


def load_flat_params(model: nn.Module, flat: np.ndarray) -> None:
    """Overwrite the model's weights in place from a vector made by :func:`flatten_params`.

    In place (``copy_``) so parameter objects, and anything holding them, stay valid. A vector
    of the wrong length is refused before anything is written.
    """
    arr = np.asarray(flat)
    if arr.ndim != 1:
        raise ParameterLengthError(f"flat parameters must be 1-D, got shape {arr.shape}")
    state = model.state_dict()
    expected = sum(t.numel() for t in state.values())
    if arr.size != expected:
        raise ParameterLengthError(
            f"flat parameter vector has {arr.size} values but the model has {expected}"
        )
    source = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    offset = 0
    with torch.no_grad():
        for tensor in state.values():
            n = tensor.numel()
            tensor.copy_(source[offset : offset + n].view_as(tensor))
            offset += n


def spec_for_parameter_count(n: int, input_dim: int, num_classes: int) -> ModelSpec:
    """A one-hidden-layer MLP whose parameter count is as close to ``n`` as a width allows.

    With width h the count is ``h·(input_dim + 1 + num_classes) + num_classes``, so the result
    is within half a hidden unit's worth of ``n`` (h is at least 1, so very small ``n`` give the
    smallest MLP). Meant for benchmarks that sweep the model size.
    """
    if not _is_int(n) or n < 1:
        raise ModelSpecError(f"parameter count must be an int >= 1, got {n!r}")
    smallest = ModelSpec(arch="mlp", input_dim=input_dim, num_classes=num_classes, hidden=(1,))
    per_unit = smallest.input_dim + 1 + smallest.num_classes
    width = max(1, round((n - smallest.num_classes) / per_unit))
    return ModelSpec(arch="mlp", input_dim=input_dim, num_classes=num_classes, hidden=(width,))
