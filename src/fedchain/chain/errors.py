"""Chain errors, with the contracts' custom errors decoded into Python exceptions."""

from __future__ import annotations

import ast
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from fedchain.chain.artifacts import CONTRACT_NAMES, load_artifact
from fedchain.errors import FedchainError

__all__ = ["ChainError", "ContractRevert", "TransactionFailed", "decode_revert", "revert_data"]


class ChainError(FedchainError):
    """The chain could not be reached or did something unexpected."""


class TransactionFailed(ChainError):
    """A transaction reverted and its reason could not be decoded."""


class ContractRevert(ChainError):
    """A contract refused a call with one of its custom errors.

    ``error`` is the Solidity error's name (``CommitWindowClosed``) and ``args`` its decoded
    arguments by name, so callers can branch on what was wrong without parsing text.
    """

    def __init__(self, error: str, args: dict[str, Any], operation: str = "") -> None:
        self.error = error
        self.args_by_name = args
        self.operation = operation
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        where = f"{operation}: " if operation else ""
        super().__init__(f"{where}{error}({shown})")


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return str(v)


_STANDARD = {
    bytes.fromhex("08c379a0"): ("Error", [("message", "string")]),
    bytes.fromhex("4e487b71"): ("Panic", [("code", "uint256")]),
}


def _error_table() -> dict[bytes, tuple[str, list[tuple[str, str]]]]:
    table = dict(_STANDARD)
    for name in CONTRACT_NAMES:
        for item in load_artifact(name).abi:
            if item.get("type") != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = (
                item["name"],
                [(i["name"], t) for i, t in zip(item["inputs"], types, strict=True)],
            )
    return table


def _abi_type(param: dict[str, Any]) -> str:
    t: str = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){t[5:]}"
    return t


_TABLE: dict[bytes, tuple[str, list[tuple[str, str]]]] | None = None


def decode_revert(data: bytes, operation: str = "") -> ChainError:
    """Turn revert data into the matching exception (ContractRevert when the selector is known)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _error_table()
    if len(data) < 4 or data[:4] not in _TABLE:
        hint = "0x" + data.hex() if data else "no revert data"
        return TransactionFailed(f"{operation}: transaction reverted ({hint})")
    name, params = _TABLE[data[:4]]
    values = abi_decode([t for _, t in params], data[4:]) if params else ()
    args = {
        n: to_checksum_address(v) if t == "address" else v
        for (n, t), v in zip(params, values, strict=True)
    }
    return ContractRevert(name, args, operation)


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data carried by a failed call, whichever provider raised it.

    web3.py's own exceptions put it in ``.data`` as hex; eth-tester raises with the raw bytes
    as its argument. Both mean the same thing.
    """
    candidates: list[Any] = [getattr(exc, "data", None), *exc.args]
    for c in candidates:
        if isinstance(c, bytes | bytearray) and len(c) >= 4:
            return bytes(c)
        if isinstance(c, str) and c.startswith("0x") and len(c) >= 10:
            try:
                return bytes.fromhex(c[2:])
            except ValueError:
                continue
        if isinstance(c, str) and "reverted: b" in c:
            # eth-tester's provider flattens the bytes into "execution reverted: b'...'"
            literal = c[c.index("reverted: b") + len("reverted: ") :]
            try:
                value = ast.literal_eval(literal)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, bytes) and len(value) >= 4:
                return value
    return None
