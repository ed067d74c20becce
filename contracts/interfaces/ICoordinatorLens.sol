// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ITaskCoordinator} from "./ITaskCoordinator.sol";

/// @title ICoordinatorLens
/// @notice The coordinator's views that a proof relies on (served by the `CoordinatorLens`
///         module at the coordinator's address).
interface ICoordinatorLens is ITaskCoordinator {
    /// @notice The open round as a proof needs it.
    function roundView(uint256 taskId) external view returns (RoundView memory);

    /// @notice A member's commitment for its last round.
    function commitView(uint256 taskId, address account) external view returns (CommitView memory);

    /// @notice Who holds the grace of the open aggregate window and until when (address(0): any
    ///         member may post now). Others' posts before `graceEnd` revert `CoordinatorGraceHeld`.
    function aggregateGrace(uint256 taskId) external view returns (address holder, uint256 graceEnd);

}

/// @title ISecureRoundLens
/// @notice The views of a secure round that a dispute relies on (served by the `SecAggPhases`
///         module at the coordinator's address).
interface ISecureRoundLens {
    /// @notice A member's secure-round record: rounds, U1 index, mask key, self-mask commitment.
    function secureMemberOf(uint256 taskId, address account)
        external
        view
        returns (ITaskCoordinator.SecureMemberView memory);

    /// @notice The open secure round: counts, Σ weights of U2, ring width, graph seed.
    function secureRoundOf(uint256 taskId) external view returns (ITaskCoordinator.SecureRoundView memory);
}
