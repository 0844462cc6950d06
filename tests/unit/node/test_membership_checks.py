"""The rules a leader checks a membership request against, before it proposes anything, and
the configuration it checks them against: the applied one plus the changes still in its log.

Sources of truth: etcd's membership API ("member already exists", "can only promote a learner
member", "member not found"); Raft thesis 4.1 (a configuration takes effect when its entry is
applied, and a leader inherits unapplied changes in its log, hence ``pending_conf_index``).
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from raftsql.node.driver import RaftNode, _check_membership_changes
from raftsql.node.errors import MembershipError
from raftsql.raft.confchange import decode_conf_change, encode_conf_change
from raftsql.raft.config import Config
from raftsql.raft.rawnode import RawNode
from raftsql.raft.storage import MemoryLog
from raftsql.raft.types import (
    ConfChange,
    ConfChangeSingle,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    NodeId,
    Role,
)

ADD, LEARN, REMOVE = ConfChangeType.ADD_VOTER, ConfChangeType.ADD_LEARNER, ConfChangeType.REMOVE_NODE


@pytest.mark.parametrize(("changes", "error"), [
    ([(LEARN, 4)], None),
    ([(LEARN, 1)], "node 1 is already a voter"),
    ([(LEARN, 3)], "node 3 is already a learner"),
    ([(ADD, 3)], None),
    ([(ADD, 2)], "node 2 is already a voter"),
    ([(ADD, 9)], "node 9 is not a learner: can only promote a learner"),
    ([(REMOVE, 2)], None),
    ([(REMOVE, 3)], None),
    ([(REMOVE, 9)], "node 9 is not a member"),
    ([(LEARN, 0)], "node ids are positive"),
    ([], "no membership change given"),
    # several changes: each against the configuration the ones before it lead to
    ([(LEARN, 4), (ADD, 4)], None),
    ([(LEARN, 4), (LEARN, 4)], "node 4 is already a learner"),
    ([(REMOVE, 1), (REMOVE, 2)], "refusing to remove the last voter"),
])
def test_rules(changes: list[tuple[ConfChangeType, NodeId]], error: str | None) -> None:
    voters, learners = {1, 2}, {3}
    if error is None:
        _check_membership_changes(changes, voters, learners)
    else:
        with pytest.raises(MembershipError, match=error):
            _check_membership_changes(changes, voters, learners)


def _conf_entry(index: int, term: int, *changes: tuple[ConfChangeType, NodeId]) -> Entry:
    cc = ConfChange(tuple(ConfChangeSingle(t, n) for t, n in changes))
    return Entry(term=term, index=index, type=EntryType.CONF_CHANGE, data=encode_conf_change(cc))


def _handle_readies(raw: RawNode, log: MemoryLog, until_leader: bool = False) -> None:
    """docs/raft-api.md's order: persist, apply (conf changes take effect), advance; with
    ``until_leader``, stop as soon as the node leads."""
    while raw.has_ready() and not (until_leader and raw.status().role is Role.LEADER):
        rd = raw.ready()
        log.append(rd.entries)
        if rd.hard_state is not None:
            log.set_hard_state(rd.hard_state)
        for e in rd.committed_entries:
            if e.type is EntryType.CONF_CHANGE:
                log.set_conf_state(raw.apply_conf_change(decode_conf_change(e.data)))
        raw.advance(rd)


def _after_pending(raw: RawNode) -> tuple[set[NodeId], set[NodeId]]:
    return RaftNode._membership_after_pending(SimpleNamespace(raw=raw))  # type: ignore[arg-type]


def test_a_change_proposed_and_not_yet_applied_counts() -> None:
    log = MemoryLog(ConfState(voters=(1,)))
    raw = RawNode(Config(id=1, rng=random.Random(1)), log)
    raw.campaign()
    _handle_readies(raw, log)
    assert raw.status().role is Role.LEADER
    assert _after_pending(raw) == ({1}, set())
    raw.propose_conf_change(ConfChange((ConfChangeSingle(LEARN, 4),)))
    assert raw.status().conf_state.learners == ()  # not applied yet
    assert _after_pending(raw) == ({1}, {4})
    _handle_readies(raw, log)
    assert raw.status().conf_state.learners == (4,)
    assert _after_pending(raw) == ({1}, {4})


def test_a_new_leader_counts_the_changes_it_inherited_unapplied() -> None:
    """Thesis 4.1: the conf change an old leader appended (index 2, never known committed)
    is part of the new leader's log; it takes effect only when applied, but a request checked
    before then must already see it."""
    log = MemoryLog(ConfState(voters=(1,)))
    log.append([_conf_entry(1, 1, (LEARN, 2)), _conf_entry(2, 1, (ADD, 2)),
                _conf_entry(3, 1, (REMOVE, 2))])
    log.set_hard_state(HardState(term=1, vote=1, commit=1))
    raw = RawNode(Config(id=1, rng=random.Random(1)), log)
    _handle_readies(raw, log)  # applies entry 1 (a node campaigns with none committed unapplied)
    raw.campaign()
    _handle_readies(raw, log, until_leader=True)
    assert raw.status().role is Role.LEADER
    assert raw.status().conf_state == ConfState(voters=(1,), learners=(2,))  # 1 applied
    assert _after_pending(raw) == ({1}, set())  # then voter 2, then removed
    log2 = MemoryLog(ConfState(voters=(1,)))
    log2.append([_conf_entry(1, 1, (LEARN, 2)), _conf_entry(2, 1, (ADD, 2))])
    log2.set_hard_state(HardState(term=1, vote=1, commit=0))
    raw2 = RawNode(Config(id=1, rng=random.Random(1)), log2)
    raw2.campaign()
    _handle_readies(raw2, log2, until_leader=True)
    assert raw2.status().role is Role.LEADER
    assert raw2.status().conf_state == ConfState(voters=(1,))
    assert _after_pending(raw2) == ({1, 2}, set())
    _handle_readies(raw2, log2)
    assert raw2.status().conf_state == ConfState(voters=(1, 2))
    assert _after_pending(raw2) == ({1, 2}, set())
