"""Where the chain runs: in process (embedded), a local anvil node, or any EVM chain by URL.

Every backend hands out the same thing, a :class:`ChainBackend` with a connected ``Web3``;
nothing above this module knows which one it got, except that only the local ones can mint
ether for test accounts and jump the clock.
"""

from __future__ import annotations

import ast
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed as TesterTransactionFailed
from eth_utils.exceptions import ValidationError as EthUtilsValidationError
from hexbytes import HexBytes
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, Wei

from fedchain.chain.errors import ChainError, revert_data

__all__ = [
    "ChainBackend",
    "EmbeddedChain",
    "AnvilChain",
    "RpcChain",
    "open_chain",
    "find_anvil",
    "CHAIN_KINDS",
]

CHAIN_KINDS = ("embedded", "anvil")
ANVIL_PACKAGE_BIN = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


class ChainBackend(ABC):
    """A connected chain plus the few operations that differ between kinds of chain."""

    name: str
    w3: Web3
    #: Local chains can mint ether and move the clock; a public chain cannot.
    is_local: bool = True

    def __init__(self) -> None:
        # One lock per chain: web3 providers are not all thread-safe, and nodes may be threads.
        self.lock = threading.RLock()

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def now(self) -> int:
        """Timestamp of the latest block (the contract's clock)."""
        number = int(self.w3.eth.block_number)
        if self._clock_block != number:  # a block's timestamp never changes: ask once
            self._clock = int(self.w3.eth.get_block(number)["timestamp"])
            self._clock_block = number
        return self._clock

    _clock_block = -1
    _clock = 0

    def next_block_time(self) -> int:
        """The earliest timestamp a transaction sent now can land with.

        Deadlines are checked against the block that includes a transaction, which comes after
        the latest one (at least a second later, and not before the node's own clock); nodes
        decide with this, not with `now`, so that they never send what the contract refuses.
        """
        return max(self.now() + 1, int(time.time()) + self._clock_offset)

    _clock_offset = 0  # seconds a local node's clock was moved forward

    @abstractmethod
    def fund(self, address: str, wei: int) -> None:
        """Give an account ether for gas (local chains only)."""

    @abstractmethod
    def advance_time(self, seconds: int) -> None:
        """Let at least ``seconds`` pass on the chain's clock and mine a block."""

    def wait_for_receipt(self, tx_hash: bytes) -> Any:
        return self.w3.eth.wait_for_transaction_receipt(
            HexBytes(tx_hash), timeout=120, poll_latency=0.001
        )

    def revert_data(self, call: dict[str, Any], block: int) -> bytes | None:
        """Replay ``call`` on the state at ``block`` and return its revert data (None if it passed)."""
        try:
            self.w3.eth.call(call, block_identifier=block)  # type: ignore[arg-type]
        except Exception as exc:
            data = revert_data(exc)
            if data is None:
                raise ChainError(f"call reverted without revert data: {exc}") from exc
            return data
        return None

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the chain (stop a node we started)."""

    def __enter__(self) -> ChainBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedChain(ChainBackend):
    """eth-tester + py-evm in this process: zero set-up, gone when the process ends."""

    name = "embedded"

    def __init__(self) -> None:
        super().__init__()
        self.tester = EthereumTester(PyEVMBackend())
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self._faucet = self.tester.get_accounts()[0]
        # Views need a sender; naming one spares the provider an eth_accounts call per call.
        self.w3.eth.default_account = self._faucet

    def fund(self, address: str, wei: int) -> None:
        with self.lock:
            try:
                self.w3.eth.send_transaction(
                    {"from": self._faucet, "to": address, "value": Wei(wei)}
                )
            except EthUtilsValidationError as exc:
                raise ChainError(
                    f"the embedded chain cannot give {address} {wei} wei: {exc}"
                ) from exc

    def advance_time(self, seconds: int) -> None:
        with self.lock:
            # eth-tester mines the time-travel block at (target - 1): ask for one more second.
            target = self.now() + int(seconds) + 1
            self.tester.time_travel(target)
            self._clock_offset = max(self._clock_offset, target - int(time.time()))

    def wait_for_receipt(self, tx_hash: bytes) -> Any:
        return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))

    def revert_data(self, call: dict[str, Any], block: int) -> bytes | None:
        # web3's eth-tester provider flattens revert bytes into a message; ask eth-tester itself.
        tx: dict[str, Any] = {k: call[k] for k in ("from", "to", "data", "gas") if k in call}
        tx["value"] = int(call.get("value", 0))
        try:
            self.tester.call(tx, block)
        except TesterTransactionFailed as exc:
            first = exc.args[0] if exc.args else b""
            if isinstance(first, Exception):
                first = first.args[0] if first.args else b""
            if isinstance(first, str) and first.startswith(("b'", 'b"')):
                first = ast.literal_eval(first)  # eth-tester sometimes passes repr(bytes)
            return bytes(first) if isinstance(first, bytes | bytearray) else b""
        return None


def find_anvil() -> Path:
    """The anvil binary from the npm registry package (or $FEDCHAIN_ANVIL, or PATH)."""
    env = os.environ.get("FEDCHAIN_ANVIL")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / ANVIL_PACKAGE_BIN for p in [Path.cwd(), *here.parents]]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ChainError(
        "anvil not found: run `make setup` (npm installs @foundry-rs/anvil-linux-amd64) "
        "or set FEDCHAIN_ANVIL to the binary"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AnvilChain(ChainBackend):
    """A local anvil node started for us on a free loopback port, stopped on close.

    With a ``state_file`` the chain survives the process: anvil loads it at start and writes it
    back on SIGTERM, so a later command on the same workdir sees the same tasks and rounds.
    """

    name = "anvil"

    def __init__(self, state_file: Path | None = None, *, binary: Path | None = None) -> None:
        super().__init__()
        self.binary = binary or find_anvil()
        self.port = _free_port()
        self.state_file = state_file
        cmd = [
            str(self.binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--hardfork",
            "prague",
            "--silent",
        ]
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--state", str(state_file)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.w3 = Web3(
            Web3.HTTPProvider(f"http://127.0.0.1:{self.port}", request_kwargs={"timeout": 60})
        )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise ChainError(
                    f"anvil exited at start (code {self.process.returncode}): {err.strip()}"
                )
            try:
                _ = self.w3.eth.chain_id
                break
            except Exception:
                if time.monotonic() > deadline:
                    self.close()
                    raise ChainError(
                        f"anvil did not answer on port {self.port} within 20 s"
                    ) from None
                time.sleep(0.02)

    def fund(self, address: str, wei: int) -> None:
        self.w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [address, hex(wei)])

    def advance_time(self, seconds: int) -> None:
        with self.lock:
            self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [int(seconds)])
            self._clock_offset += int(seconds)
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def close(self) -> None:
        proc = getattr(self, "process", None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # SIGTERM, not SIGKILL: anvil writes its state file then
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RpcChain(ChainBackend):
    """Any EVM chain by JSON-RPC URL; accounts must already hold ether (keys from the environment)."""

    name = "rpc"
    is_local = False

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        try:
            _ = self.w3.eth.chain_id
        except Exception as exc:
            raise ChainError(f"cannot reach an EVM node at {url}: {exc}") from exc

    def fund(self, address: str, wei: int) -> None:
        balance = int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))
        if balance < wei:
            raise ChainError(
                f"{address} holds {balance} wei on {self.url}, needs {wei}: fund it first "
                "(fedchain cannot mint ether on a real chain)"
            )

    def now(self) -> int:
        """The earliest timestamp a transaction sent now can carry.

        A chain's clock moves only with its blocks, and a quiet chain (an automining node) may
        not make one for a while; the next block will carry at least the current time.
        """
        return max(super().now(), int(time.time()))

    def advance_time(self, seconds: int) -> None:
        time.sleep(max(0, int(seconds)))  # a real chain's clock cannot be moved: wait


def open_chain(spec: str, *, workdir: Path | None = None) -> ChainBackend:
    """Open ``embedded``, ``anvil`` or an ``http(s)://`` / ``ws(s)://`` RPC URL."""
    if spec == "embedded":
        return EmbeddedChain()
    if spec == "anvil":
        state = workdir / "chain" / "anvil-state.json" if workdir is not None else None
        return AnvilChain(state)
    if spec.startswith(("http://", "https://")):
        return RpcChain(spec)
    raise ChainError(f"unknown chain {spec!r}: use embedded, anvil or an http(s):// RPC URL")
