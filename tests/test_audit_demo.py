"""`run_demo` on the embedded chain audits itself: every round verified, and what the report says
about the models is true of the blobs left in the workdir's store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import dequantize
from fedchain.learning import build_model, evaluate, load_dataset, load_flat_params
from fedchain.node import TaskBlobs, TaskConfig
from fedchain.sim.demo import DemoConfig, run_demo
from fedchain.storage import LocalDirStore

pytestmark = pytest.mark.slow


def _task_config(store: LocalDirStore) -> TaskConfig:
    """The one task config blob in the store (the only JSON blob; vectors are named by root)."""
    found = []
    for path in store.root.rglob("*"):
        if path.is_file() and path.read_bytes()[:1] == b"{":
            found.append(TaskConfig.from_bytes(store.get(bytes.fromhex(path.name))))
    assert len(found) == 1, found
    return found[0]


def test_small_demo_passes_its_own_audit_and_reports_the_stored_models(tmp_path: Path) -> None:
    # Prepare
    workdir = tmp_path / "demo"
    cfg = DemoConfig(clients=3, rounds=3, workdir=workdir, seed=3)

    # Execute
    report = run_demo(cfg)

    # Assert
    assert report.audit["passed"] is True
    assert report.audit["rounds_verified"] == cfg.rounds
    assert report.audit["first_failure"] is None
    assert [r["round"] for r in report.rounds] == list(range(1, cfg.rounds + 1))
    assert all(r["finalized"] for r in report.rounds)
    assert json.loads((workdir / "deployment.json").read_text())["coordinator"].startswith("0x")
    assert report.disputes == [] and report.slashed == []
    # Each round's model is in the store under its root, opens to it, and the accuracy
    # reported is that model's.
    store = LocalDirStore(workdir / "store")
    task = _task_config(store)
    blobs = TaskBlobs(store, task)
    assert task.dataset == cfg.dataset
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    model = build_model(task.model_spec, seed=0)
    for r in report.rounds:
        root = bytes.fromhex(str(r["model_digest"]))
        blob = blobs.get_vector(BlobKind.MODEL, root)
        assert blobs.model_root(blob.values) == root
        assert r["aggregator"] is not None
        load_flat_params(model, dequantize(blob.values, frac_bits=task.frac_bits))
        acc, loss = evaluate(model, data.x_test, data.y_test)
        assert (acc, loss) == (r["accuracy"], r["loss"])
    assert report.final_accuracy == report.rounds[-1]["accuracy"]
