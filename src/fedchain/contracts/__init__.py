"""Compiled contract artifacts (ABI + bytecode), built by scripts/compile_contracts.mjs."""
