// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title FedToken
/// @notice The consortium's token: stakes, reward pools and bonds are paid in it, and (with
///         ERC20Votes) it carries the data DAO's votes. The whole supply is minted once, at
///         deployment, so "every token is accounted for" can be checked against a constant.
contract FedToken is ERC20, ERC20Permit, ERC20Votes {
    /// @param name_ Token name (also the EIP-712 domain name used by permit).
    /// @param symbol_ Token symbol.
    /// @param initialHolder Receives the whole supply.
    /// @param supply The fixed total supply, in the smallest unit.
    constructor(string memory name_, string memory symbol_, address initialHolder, uint256 supply)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
    {
        _mint(initialHolder, supply);
    }

    /// @dev ERC20Votes keeps vote checkpoints in step with balances.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
