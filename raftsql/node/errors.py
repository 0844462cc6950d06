"""Errors a node gives its callers, each carrying the SQLSTATE of ARCHITECTURE.md's contract.

The distinction that matters to a client is whether the write may have happened:
``NotProposedError`` and ``NoLeaderError`` say it did not (safe to retry), ``OutcomeUnknownError``
says it may have (retry only with the same client id and sequence, which the state machine
deduplicates).
"""

from __future__ import annotations


class NodeError(Exception):
    sqlstate = "XX000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotProposedError(NodeError):
    """Rejected before it was proposed (leader changed, transfer in progress): retry."""

    sqlstate = "40001"


class OutcomeUnknownError(NodeError):
    """Proposed, but the outcome is unknown (leadership lost, timeout)."""

    sqlstate = "40003"


class NoLeaderError(NodeError):
    """This node knows no leader or cannot reach a quorum: nothing was done."""

    sqlstate = "57P03"


class MembershipError(NodeError):
    """A membership request refused before anything was proposed, because it does not fit the
    configuration the leader's log leads to: adding a node that is already a member, promoting
    one that is not a learner, removing a non-member or the last voter, transferring
    leadership to a node that is not a voter. Nothing happened; retrying will not help.
    SQLSTATE 55000 (object_not_in_prerequisite_state)."""

    sqlstate = "55000"


class ShuttingDownError(NodeError):
    sqlstate = "57P01"
