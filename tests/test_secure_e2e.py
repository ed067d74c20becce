"""Secure aggregation end to end, as a user runs it: `run_demo` with SecAgg+ and 30 % dropout on
the embedded chain, and on anvil the CLI (`fedchain demo --secure-aggregation --dropout 0.3`,
then `fedchain audit`) across processes; a flipped byte in one stored masked input then fails
the audit naming its round."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anvil_procs import anvils_for as _anvils_for
from anvil_procs import audit_anvil as _audit

from fedchain.chain import CoordinatorClient, Deployment, Transactor, open_chain
from fedchain.codec.blob import HEADER_SIZE, MAGIC, BlobKind
from fedchain.sim.consortium import TokenPlan
from fedchain.sim.demo import DemoConfig, ParticipantReward, run_demo
from fedchain.sim.faults import DropoutPlan

FEDCHAIN = Path(sys.executable).with_name("fedchain")
ABORT_REASONS = {"TOO_FEW_UPDATES", "NO_AGGREGATE"}


def _vector_blobs(store: Path) -> dict[BlobKind, set[str]]:
    """Stored vector blobs by the kind their header declares (magic b"FCV1", kind at byte 4);
    each is named by its Merkle-sum root."""
    out: dict[BlobKind, set[str]] = {}
    for path in store.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        head = path.read_bytes()[:HEADER_SIZE]
        if head[:4] == MAGIC and len(head) == HEADER_SIZE:
            out.setdefault(BlobKind(head[4]), set()).add(path.name)
    return out


@pytest.mark.slow
def test_secure_demo_with_dropouts_audits_and_learns(tmp_path: Path) -> None:
    # Prepare
    cfg = DemoConfig(
        secure_aggregation=True,
        dropout=0.3,
        clients=10,
        rounds=3,
        seed=7,
        workdir=tmp_path / "w",
    )
    plan = DropoutPlan(
        num_participants=cfg.clients, fraction=cfg.dropout, seed=cfg.seed, secure=True
    )

    # Execute
    report = run_demo(cfg)

    # Assert: every round verified, each one finalized or aborted with a reason
    assert report.audit["passed"] is True, report.audit
    assert report.audit["rounds_verified"] == cfg.rounds
    assert [r["round"] for r in report.rounds] == [1, 2, 3]
    address = {p.name: p.address for p in report.rewards}
    for r in report.rounds:
        rnd = int(r["round"])  # type: ignore[call-overload]
        if not r["finalized"]:
            assert r["abort_reason"] in ABORT_REASONS and r["model_digest"] is None, r
            continue
        assert r["abort_reason"] is None and r["model_digest"], r
        stages = {i: plan.stage(rnd, i) for i in range(cfg.clients)}
        # U3: owners that stayed or vanished only after their masked input; the latter withheld
        survivors = [i for i, s in stages.items() if s is None or s == 3]
        withheld = {address[f"owner-{i:02d}"] for i, s in stages.items() if s == 3}
        assert r["included"] == len(survivors), r
        assert set(r["withheld"]) == withheld, r  # type: ignore[call-overload]
        assert r["excluded"] == [], r
    # nobody lost a stake (each priced by its declared count); no plaintext update was stored
    _assert_stakes_returned(report.rewards)
    assert sum(p.rewards for p in report.rewards) > 0
    kinds = _vector_blobs(tmp_path / "w" / "store")
    assert BlobKind.UPDATE not in kinds and kinds.get(BlobKind.MASKED)
    # it learns: within 3 points of the same model trained centrally with the same budget
    assert report.final_accuracy >= report.centralized_accuracy - 0.03, (
        report.final_accuracy,
        report.centralized_accuracy,
    )


def _assert_stakes_returned(rewards: list[ParticipantReward]) -> None:
    """Every owner got back exactly the stake it paid: the flat stake plus its declared count
    times the per-sample stake."""
    plan = TokenPlan()
    for p in rewards:
        assert p.stake_returned == p.stake_paid, p
        assert p.stake_paid == pytest.approx(
            plan.stake + plan.stake_per_sample_milli * p.samples / 1000
        ), p


# ------------------------------------------------------------------ anvil, through the CLI


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A fresh workdir; if a failed run left an anvil on it, that anvil (ours) is stopped."""
    w = tmp_path / "w"
    yield w
    for pid in _anvils_for(w):
        os.kill(pid, signal.SIGTERM)


def _finalized_masked_input(workdir: Path) -> tuple[int, str, str]:
    """(round, participant, root hex) of one masked input a finalized round aggregated."""
    deployment = Deployment.load(workdir / "deployment.json")
    with open_chain("anvil", workdir=workdir) as backend:
        co = CoordinatorClient(
            Transactor(backend), deployment.coordinator, from_block=deployment.deploy_block
        )
        (task_id,) = co.task_ids()
        for outcome in co.round_outcomes(task_id):
            if not outcome.finalized:
                continue
            excluded = set(co.excluded(task_id, outcome.round))
            for u in co.updates(task_id, outcome.round):
                if u.participant not in excluded:
                    return outcome.round, u.participant, u.merkle_root.hex()
    raise AssertionError("no finalized round aggregated a masked input")


@pytest.mark.slow
@pytest.mark.anvil
def test_secure_cli_demo_then_audit_on_anvil_and_a_flipped_masked_byte_is_caught(
    tmp_path: Path, workdir: Path
) -> None:
    # Prepare
    assert FEDCHAIN.is_file(), f"console script not installed at {FEDCHAIN}"
    report = tmp_path / "report.json"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    # Execute: the demo in its own process, then an audit
    demo = subprocess.run(
        [
            str(FEDCHAIN),
            "demo",
            "--secure-aggregation",
            "--dropout",
            "0.3",
            "--chain",
            "anvil",
            "--workdir",
            str(workdir),
            "--clients",
            "5",
            "--rounds",
            "2",
            "--report",
            str(report),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    audit_ok, audit_ok_out = _audit(workdir)

    # Assert
    assert demo.returncode == 0, demo.stdout + demo.stderr
    data = json.loads(report.read_text())
    assert data["chain"] == "anvil" and data["audit"]["passed"] is True
    assert all(r["finalized"] or r["abort_reason"] in ABORT_REASONS for r in data["rounds"])
    assert audit_ok == 0, audit_ok_out
    assert "PASS" in audit_ok_out and "2 rounds verified" in audit_ok_out
    assert _anvils_for(workdir) == [], "an anvil was left running"

    # Prepare: one masked input of a finalized round, found by its header among the blobs
    round_, participant, root = _finalized_masked_input(workdir)
    masked = _vector_blobs(workdir / "store")[BlobKind.MASKED]
    assert root in masked
    blob = workdir / "store" / "named" / root[:2] / root
    raw = bytearray(blob.read_bytes())
    raw[HEADER_SIZE] ^= 0x80  # the top bit of the first packed word (the last byte may be padding)

    # Execute: flip one byte of its payload and audit again
    blob.write_bytes(bytes(raw))
    audit_bad, out = _audit(workdir)

    # Assert
    assert audit_bad == 1, out
    assert "FAIL" in out
    assert re.search(rf"\bround {round_}\b", out), out
    assert participant in out, out
    assert _anvils_for(workdir) == [], "the failing audit left an anvil running"


@pytest.mark.slow
def test_secure_demo_with_faults_completes_leaves_the_faulty_out_and_keeps_every_stake(
    tmp_path: Path,
) -> None:
    # Prepare: owner 1 seals garbage shares from round 1, owner 2 commits a malformed masked
    # input from round 2, owner 3 crashes from round 2
    faults = {1: ("bad-shares", 1), 2: ("malformed", 2), 3: ("crash", 2)}
    cfg = DemoConfig(
        secure_aggregation=True,
        clients=7,
        rounds=2,
        seed=3,
        workdir=tmp_path / "w",
        faults=faults,  # type: ignore[arg-type]
    )

    # Execute
    report = run_demo(cfg)

    # Assert: every round completes and audits; the garbage-share owner and the malformed input
    # are excluded on-chain, the crashed owner simply is not there; nobody loses stake, and the
    # faulty earn nothing for the rounds they failed
    assert report.audit["passed"] is True, report.audit
    assert all(r["finalized"] for r in report.rounds)
    by_name = {p.name: p for p in report.rewards}
    addr = {i: by_name[f"owner-{i:02d}"].address for i in range(cfg.clients)}

    def failing(i: int, rnd: int) -> bool:
        return i in faults and rnd >= faults[i][1]

    for r in report.rounds:
        rnd = int(r["round"])  # type: ignore[call-overload]
        excluded = [addr[i] for i in (1, 2) if failing(i, rnd)]
        assert r["excluded"] == sorted(excluded), (rnd, r["excluded"])
        assert r["included"] == sum(not failing(i, rnd) for i in range(cfg.clients))
    _assert_stakes_returned(report.rewards)
    for i in range(cfg.clients):
        p = by_name[f"owner-{i:02d}"]
        assert p.rounds_included == sum(not failing(i, rnd) for rnd in (1, 2))
    assert by_name["owner-01"].rewards == 0


@pytest.mark.parametrize(
    ("secure", "kind"),
    [(True, "late"), (False, "bad-shares")],
    ids=["secure-late", "plain-bad-shares"],
)
def test_a_fault_the_round_kind_cannot_have_is_refused_by_the_config(
    secure: bool, kind: str, tmp_path: Path
) -> None:
    # Prepare / Execute
    with pytest.raises(ValueError) as exc:  # pydantic's ValidationError is a ValueError
        DemoConfig(
            clients=4,
            rounds=1,
            secure_aggregation=secure,
            workdir=tmp_path / "w",
            faults={1: (kind, 1)},  # type: ignore[dict-item]
        )

    # Assert: the message names the fault and what this kind of round takes
    assert kind in str(exc.value) and "rounds take" in str(exc.value)
