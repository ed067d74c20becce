from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fedchain.errors import FedchainError
from fedchain.learning import (
    ModelSpec,
    ModelSpecError,
    ParameterLengthError,
    build_model,
    flatten_params,
    load_flat_params,
    num_parameters,
    spec_for_parameter_count,
)

LOGREG = ModelSpec(arch="logreg", input_dim=30, num_classes=2)
MLP = ModelSpec(arch="mlp", input_dim=64, num_classes=10, hidden=(32, 16))

specs = st.one_of(
    st.builds(
        ModelSpec,
        arch=st.just("logreg"),
        input_dim=st.integers(1, 50),
        num_classes=st.integers(2, 12),
    ),
    st.builds(
        ModelSpec,
        arch=st.just("mlp"),
        input_dim=st.integers(1, 50),
        num_classes=st.integers(2, 12),
        hidden=st.lists(st.integers(1, 40), min_size=1, max_size=3).map(tuple),
    ),
)


@settings(max_examples=30, deadline=None)
@given(spec=specs)
def test_spec_json_round_trip_and_parameter_count(spec: ModelSpec) -> None:
    restored = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert restored == spec and hash(restored) == hash(spec)
    model = build_model(spec, seed=0)
    assert num_parameters(spec) == sum(p.numel() for p in model.parameters())
    assert flatten_params(model).size == num_parameters(spec)


def test_spec_normalises_spelling() -> None:
    spec = ModelSpec(arch="mlp", input_dim=np.int64(4), num_classes=3, hidden=[5])  # type: ignore[arg-type]
    assert spec.hidden == (5,) and type(spec.input_dim) is int
    assert spec == ModelSpec(arch="mlp", input_dim=4, num_classes=3, hidden=(5,))
    assert spec.to_dict() == {"arch": "mlp", "input_dim": 4, "num_classes": 3, "hidden": [5]}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arch": "cnn", "input_dim": 4, "num_classes": 2}, "arch"),
        ({"arch": "logreg", "input_dim": 0, "num_classes": 2}, "input_dim"),
        ({"arch": "logreg", "input_dim": True, "num_classes": 2}, "input_dim"),
        ({"arch": "logreg", "input_dim": 4.0, "num_classes": 2}, "input_dim"),
        ({"arch": "logreg", "input_dim": 4, "num_classes": 1}, "num_classes"),
        ({"arch": "logreg", "input_dim": 4, "num_classes": 2, "hidden": (8,)}, "no hidden"),
        ({"arch": "mlp", "input_dim": 4, "num_classes": 2}, "at least one hidden"),
        ({"arch": "mlp", "input_dim": 4, "num_classes": 2, "hidden": (8, 0)}, "hidden"),
        ({"arch": "mlp", "input_dim": 4, "num_classes": 2, "hidden": "8"}, "hidden"),
    ],
)
def test_invalid_specs_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ModelSpecError, match=match) as info:
        ModelSpec(**kwargs)
    assert isinstance(info.value, FedchainError)


def test_from_dict_refuses_unknown_and_missing_keys() -> None:
    good = LOGREG.to_dict()
    with pytest.raises(ModelSpecError, match="unknown.*dropout"):
        ModelSpec.from_dict({**good, "dropout": 0.1})
    with pytest.raises(ModelSpecError, match="missing.*input_dim"):
        ModelSpec.from_dict({"arch": "logreg", "num_classes": 2})
    with pytest.raises(ModelSpecError, match="dict"):
        ModelSpec.from_dict([("arch", "logreg")])  # type: ignore[arg-type]


def test_architectures() -> None:
    logreg = build_model(LOGREG, seed=0)
    linears = [m for m in logreg.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 30 and linears[0].out_features == 2
    mlp = build_model(MLP, seed=0)
    kinds = [type(m) for m in mlp.children()]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert mlp(torch.zeros(5, 64)).shape == (5, 10)
    assert all(p.dtype == torch.float32 for p in mlp.parameters())


def test_init_is_deterministic_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = flatten_params(build_model(MLP, seed=11))
    b = flatten_params(build_model(MLP, seed=11))
    c = flatten_params(build_model(MLP, seed=12))
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    bound = 1 / np.sqrt(64)
    assert np.abs(a[: 32 * 64]).max() <= bound and np.abs(a[: 32 * 64]).std() > bound / 4


def test_flatten_order_dtype_and_copy() -> None:
    model = build_model(MLP, seed=1)
    flat = flatten_params(model)
    assert flat.dtype == np.float32 and flat.ndim == 1
    expected = np.concatenate([t.numpy().ravel() for t in model.state_dict().values()])
    np.testing.assert_array_equal(flat, expected)
    flat[:] = 0.0
    assert float(model.state_dict()["0.weight"].abs().sum()) > 0


def test_load_round_trip_makes_identical_models() -> None:
    src, dst = build_model(MLP, seed=1), build_model(MLP, seed=2)
    params_before = [id(p) for p in dst.parameters()]
    load_flat_params(dst, flatten_params(src))
    np.testing.assert_array_equal(flatten_params(dst), flatten_params(src))
    assert [id(p) for p in dst.parameters()] == params_before
    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(src(x), dst(x))
    # float64 input is accepted and cast.
    load_flat_params(dst, flatten_params(src).astype(np.float64) * 2)
    np.testing.assert_array_equal(flatten_params(dst), flatten_params(src) * 2)


def test_wrong_length_refused_and_model_untouched() -> None:
    model = build_model(LOGREG, seed=0)
    before = flatten_params(model)
    with pytest.raises(ParameterLengthError, match=r"61 values but the model has 62"):
        load_flat_params(model, np.zeros(61, dtype=np.float32))
    with pytest.raises(ParameterLengthError, match="1-D"):
        load_flat_params(model, np.zeros((2, 31), dtype=np.float32))
    np.testing.assert_array_equal(flatten_params(model), before)


@pytest.mark.parametrize("n", [10**3, 10**4, 10**5, 10**6])
@pytest.mark.parametrize(("input_dim", "num_classes"), [(30, 2), (64, 10)])
def test_spec_for_parameter_count(n: int, input_dim: int, num_classes: int) -> None:
    spec = spec_for_parameter_count(n, input_dim, num_classes)
    assert spec.arch == "mlp" and len(spec.hidden) == 1
    assert (spec.input_dim, spec.num_classes) == (input_dim, num_classes)
    per_unit = input_dim + 1 + num_classes
    assert abs(num_parameters(spec) - n) <= per_unit / 2
    assert abs(num_parameters(spec) - n) / n < 0.04


def test_spec_for_parameter_count_edges() -> None:
    assert spec_for_parameter_count(1, 30, 2).hidden == (1,)
    with pytest.raises(ModelSpecError, match="parameter count"):
        spec_for_parameter_count(0, 30, 2)
    with pytest.raises(ModelSpecError, match="num_classes"):
        spec_for_parameter_count(1000, 30, 1)
