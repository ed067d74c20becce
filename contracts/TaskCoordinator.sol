// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CoordinatorCore} from "./coordinator/CoordinatorCore.sol";
import {CoordinatorRounds} from "./coordinator/CoordinatorRounds.sol";
import {CoordinatorStaking} from "./coordinator/CoordinatorStaking.sol";
import {CoordinatorSecAgg} from "./coordinator/CoordinatorSecAgg.sol";
import {CoordinatorLens} from "./coordinator/CoordinatorLens.sol";

/// @title TaskCoordinator
/// @notice Runs federated-learning tasks without a trusted server. A sponsor escrows a reward
///         pool; data owners join with a stake priced by their declared sample count; each
///         round they commit to their model update (a Merkle-sum root that binds its squared
///         norm, never the update itself); a staked aggregator posts the roots of the exact
///         weighted sum and of the new model with a bond; during the challenge window anyone
///         may prove either wrong through `RoundDisputes` and take part of the bond; then the
///         round is finalized and rewards are credited by weight.
/// @dev Composed of the round core, the round calls, staking and escrow, and the SecAgg+ state;
///      the SecAgg+ phase calls and the views run in two modules (`SecAggPhases`,
///      `CoordinatorLens`) forwarded by DELEGATECALL from `fallback`, and the dispute game is a
///      separate deployment named once with `setDisputeGame`. Each deployment stays under
///      EIP-170's 24,576 bytes.
contract TaskCoordinator is CoordinatorRounds, CoordinatorStaking, CoordinatorSecAgg {
    /// @notice The module holding the SecAgg+ phase calls.
    address public immutable secAggPhases;
    /// @notice The module holding the views.
    address public immutable lens;

    /// @param token_ The ERC-20 used for stakes, reward pools and bonds.
    /// @param secAggPhases_ A deployed `SecAggPhases` (same storage layout, by inheritance).
    /// @param lens_ A deployed `CoordinatorLens` (same storage layout, by inheritance).
    constructor(IERC20 token_, address secAggPhases_, address lens_) CoordinatorCore(token_) {
        secAggPhases = secAggPhases_;
        lens = lens_;
    }

    /// @dev Forward to a module: its code runs on this contract's storage, with this contract's
    ///      address in its events and the original caller as msg.sender. The lens serves every
    ///      view; every other unknown selector goes to the SecAgg+ phases (which revert on
    ///      selectors they do not have).
    fallback() external {
        bytes4 sel = msg.sig;
        address module = (
            sel == CoordinatorLens.getTask.selector || sel == CoordinatorLens.getMember.selector
                || sel == CoordinatorLens.rewardPerWeight.selector || sel == CoordinatorLens.phaseOf.selector
                || sel == CoordinatorLens.roundView.selector || sel == CoordinatorLens.commitView.selector
                || sel == CoordinatorLens.aggregateGrace.selector
        ) ? lens : secAggPhases;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
