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
    """An unsafe or impossible membership request (removing the last voter, a second change
    while one is in flight, an unknown node)."""

    sqlstate = "55000"


class ShuttingDownError(NodeError):
    sqlstate = "57P01"
