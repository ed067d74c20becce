"""End to end on anvil, as a user runs it: `fedchain demo --chain anvil --workdir W` (the console
script, in its own process), then `fedchain audit --chain anvil --workdir W` (in-process through
CliRunner, which saves a torch import per call; each audit still starts its own anvil from the
state the demo left in W). A flipped byte in a round's stored model fails that round as data lost
(blaming nobody) while the next round is still replayed from the model the auditor recomputed; a
flipped byte in the sponsor's initial model fails the setup. A run with a rogue aggregator is refuted on anvil and audits clean. No anvil is left
behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from anvil_procs import anvils_for as _anvils_for
from anvil_procs import audit_anvil as _audit

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

FEDCHAIN = Path(sys.executable).with_name("fedchain")


def _fedchain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(FEDCHAIN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A fresh workdir; if a failed run left an anvil on it, that anvil (ours) is stopped."""
    w = tmp_path / "w"
    yield w
    for pid in _anvils_for(w):
        os.kill(pid, signal.SIGTERM)


def test_demo_then_audit_across_processes_and_tampering_is_caught(
    tmp_path: Path, workdir: Path
) -> None:
    # Prepare
    assert FEDCHAIN.is_file(), f"console script not installed at {FEDCHAIN}"
    report = tmp_path / "report.json"
    assert _anvils_for(workdir) == []

    # Execute: the demo, then an audit in a fresh process
    demo = _fedchain(
        "demo",
        "--chain",
        "anvil",
        "--workdir",
        str(workdir),
        "--clients",
        "3",
        "--rounds",
        "2",
        "--report",
        str(report),
        cwd=tmp_path,
    )
    left_after_demo = _anvils_for(workdir)
    audit_ok, audit_ok_out = _audit(workdir)
    left_after_audit = _anvils_for(workdir)

    # Assert
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert left_after_demo == [], "demo left anvil running"
    data = json.loads(report.read_text())
    assert data["chain"] == "anvil" and data["audit"]["passed"] is True
    assert (workdir / "chain" / "anvil-state.json").is_file()
    assert audit_ok == 0, audit_ok_out
    assert "PASS" in audit_ok_out and "2 rounds verified" in audit_ok_out
    assert left_after_audit == [], "audit left anvil running"

    # Execute: flip one byte of round 1's model blob (named by its root), audit again
    root = str(data["rounds"][0]["model_digest"])
    blob = workdir / "store" / "named" / root[:2] / root
    assert blob.is_file(), sorted(str(p) for p in (workdir / "store").rglob("*"))[:20]
    original = blob.read_bytes()
    raw = bytearray(original)
    raw[len(raw) // 2] ^= 0x01
    blob.write_bytes(bytes(raw))
    audit_lost, out = _audit(workdir)
    blob.write_bytes(original)

    # Assert: the audit fails on round 1 as data lost after the round (nobody blamed), and round 2
    # is still verified from the model the audit recomputed for round 1 (its root matched)
    assert audit_lost == 1, out
    assert "data lost" in out and "round 1" in out, out
    assert "round 2" not in out.split("first failing")[-1].split("\n")[0], out

    # Execute: flip one byte of the sponsor's initial model, audit again
    (initial,) = [
        p
        for p in (workdir / "store" / "named").rglob("*")
        if p.is_file()
        and p.name not in _named_roots(data)
        and p.read_bytes()[4:5] == b"\x03"  # a MODEL blob
    ]
    raw = bytearray(initial.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    initial.write_bytes(bytes(raw))
    audit_bad, out = _audit(workdir)

    # Assert
    assert audit_bad == 1, out
    assert "FAIL" in out and "setup" in out and "initial model" in out, out
    assert initial.name[:16] in out  # the message says which blob is bad
    assert _anvils_for(workdir) == [], "failing audit left anvil running"


def _named_roots(data: dict) -> set[str]:  # type: ignore[type-arg]
    return {str(r["model_digest"]) for r in data["rounds"] if r["model_digest"]}


def test_a_rogue_aggregator_is_refuted_on_anvil_and_the_audit_passes(
    tmp_path: Path, workdir: Path
) -> None:
    # Prepare
    report = tmp_path / "report.json"

    # Execute
    demo = _fedchain(
        "demo",
        "--chain",
        "anvil",
        "--workdir",
        str(workdir),
        "--clients",
        "4",
        "--rounds",
        "2",
        "--faults",
        "2:wrong-aggregate:2",
        "--report",
        str(report),
        cwd=tmp_path,
    )
    code, out = _audit(workdir)

    # Assert
    assert demo.returncode == 0, demo.stdout + demo.stderr
    data = json.loads(report.read_text())
    assert data["audit"]["passed"] is True, data["audit"]
    rogue = data["rewards"][2]["address"]
    assert [(d["round"], d["kind"], d["accused"], d["outcome"]) for d in data["disputes"]] == [
        (2, "wrong-aggregate", rogue, "refuted")
    ]
    assert [(x["address"], x["round"]) for x in data["slashed"]] == [(rogue, 2)]
    # the rogue was the incumbent (it aggregated round 1 honestly); refuted, it lost the role
    assert all(r["finalized"] for r in data["rounds"])
    assert [r["aggregator"] == rogue for r in data["rounds"]] == [True, False]
    assert code == 0, out
    assert "PASS" in out and "2 rounds verified" in out
    assert _anvils_for(workdir) == [], "a run left anvil running"
