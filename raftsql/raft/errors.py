"""Errors raised to the caller of RawNode (storage errors live in ``storage``)."""

from __future__ import annotations

from .storage import RaftError


class ProposalDroppedError(RaftError):
    """The proposal was not accepted: no leader known, forwarding disabled, a leadership
    transfer in progress, the uncommitted size limit reached, a conf change already in flight,
    or this node was removed from the configuration. The client may retry elsewhere or later."""
