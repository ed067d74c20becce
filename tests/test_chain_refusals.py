"""The chain layer turns a node's refusals into ChainError and recovers from them."""

from __future__ import annotations

import pytest

from fedchain.chain import (
    ChainError,
    EmbeddedChain,
    TokenClient,
    Transactor,
    deploy,
    derive_account,
)


def test_funding_beyond_the_faucet_is_a_chain_error() -> None:
    # Prepare
    chain = EmbeddedChain()
    faucet_balance = chain.w3.eth.get_balance(chain.w3.eth.accounts[0])

    # Execute / Assert
    with pytest.raises(ChainError, match="cannot give"):
        chain.fund(derive_account(0, 1).address, faucet_balance * 2)


def test_a_stale_nonce_is_refused_then_re_read() -> None:
    # Prepare: two clients of the same key; the first caches its nonce while deploying, then
    # the second sends with that nonce, so the first one's cache is stale
    chain = EmbeddedChain()
    owner = derive_account(3, 0)
    chain.fund(owner.address, 10**20)
    first, second = Transactor(chain), Transactor(chain)
    dep = deploy(first, owner, supply=10**24)
    token_1, token_2 = TokenClient(first, dep.token), TokenClient(second, dep.token)
    to = derive_account(3, 1).address
    token_2.transfer(owner, to, 1)

    # Execute
    with pytest.raises(ChainError, match="refused"):
        token_1.transfer(owner, to, 1)
    token_1.transfer(owner, to, 1)  # re-reads the nonce

    # Assert
    assert token_1.balance_of(to) == 2
