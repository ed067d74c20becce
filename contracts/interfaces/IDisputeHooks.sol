// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ITaskCoordinator} from "./ITaskCoordinator.sol";

/// @title IDisputeHooks
/// @notice What the separately deployed dispute game (`RoundDisputes`) may do to the
///         coordinator: lock and settle challenge bonds, void an aggregate, slash a member.
///         Callable only by the game; it reads rounds through `ICoordinatorLens`.
interface IDisputeHooks is ITaskCoordinator {
    /// @notice Pull the task's challenge bond from `challenger` (which approved this contract)
    ///         during the challenge window; returns the aggregate epoch the challenge is about.
    function lockChallengeBond(uint256 taskId, uint256 round, address challenger) external returns (uint32 epoch);

    /// @notice Settle a bonded challenge of aggregate `epoch` of `round`.
    function settleChallenge(
        uint256 taskId,
        uint256 round,
        uint32 epoch,
        address challenger,
        ChallengeOutcome outcome,
        Fault fault
    ) external;

    /// @notice Void the current aggregate for a fault proven in one step (no bond needed).
    function voidAggregate(uint256 taskId, uint256 round, uint32 epoch, Fault fault, address prover) external;

    /// @notice Slash a member whose commitment of the open round was proven false.
    function slashMember(uint256 taskId, uint256 round, address member, Fault fault, address prover) external;
}
