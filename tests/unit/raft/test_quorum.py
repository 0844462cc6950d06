"""quorum.py against a deliberately naive oracle (etcd quorum/quick_test.go).

Source of truth: Raft paper 5.3 (an entry is committed once a majority stores it), thesis 4.3
(joint consensus needs majorities of both C_old and C_new).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from raftsql.raft import quorum
from raftsql.raft.quorum import JointConfig, VoteResult

ids = st.frozensets(st.integers(min_value=1, max_value=7), max_size=7)


def naive_majority_index(voters: frozenset[int], acked: dict[int, int]) -> int:
    """The largest index i such that more than half of the voters acked >= i."""
    if not voters:
        return quorum.INFINITE_INDEX
    best = 0
    for i in range(0, max([0, *acked.values()]) + 1):
        if sum(1 for v in voters if acked.get(v, 0) >= i) * 2 > len(voters):
            best = i
    return best


def naive_vote(voters: frozenset[int], votes: dict[int, bool]) -> VoteResult:
    if not voters:
        return VoteResult.WON
    yes = sum(1 for v in voters if votes.get(v) is True)
    no = sum(1 for v in voters if votes.get(v) is False)
    if yes * 2 > len(voters):
        return VoteResult.WON
    if no * 2 >= len(voters):
        return VoteResult.LOST
    return VoteResult.PENDING


@given(ids, st.dictionaries(st.integers(1, 7), st.integers(0, 20)))
def test_majority_committed_index_matches_oracle(voters, acked) -> None:
    """Reference: Raft paper 5.3 (majority replication commits)."""
    assert quorum.majority_committed_index(voters, acked) == naive_majority_index(voters, acked)


@given(ids, ids, st.dictionaries(st.integers(1, 7), st.integers(0, 20)))
def test_joint_committed_index_is_min_of_halves(inc, out, acked) -> None:
    """Reference: Raft thesis 4.3 (joint consensus: agreement needs both majorities)."""
    got = quorum.committed_index(JointConfig(inc, out), acked)
    assert got == min(naive_majority_index(inc, acked), naive_majority_index(out, acked))


@given(ids, st.dictionaries(st.integers(1, 7), st.booleans()))
def test_majority_vote_matches_oracle(voters, votes) -> None:
    """Reference: Raft paper 5.2 (a candidate wins with votes from a majority)."""
    assert quorum.majority_vote_result(voters, votes) == naive_vote(voters, votes)


@given(ids, ids, st.dictionaries(st.integers(1, 7), st.booleans()))
def test_joint_vote(inc, out, votes) -> None:
    """Reference: Raft thesis 4.3: an election in C_old,new needs both majorities."""
    a, b = naive_vote(inc, votes), naive_vote(out, votes)
    want = (
        VoteResult.WON if a == b == VoteResult.WON
        else VoteResult.LOST if VoteResult.LOST in (a, b)
        else VoteResult.PENDING
    )
    assert quorum.vote_result(JointConfig(inc, out), votes) == want


def test_examples() -> None:
    """Reference: Raft paper 5.3: 3 of 5 replicas commit."""
    v = frozenset({1, 2, 3, 4, 5})
    assert quorum.majority_committed_index(v, {1: 5, 2: 5, 3: 5, 4: 1}) == 5
    assert quorum.majority_committed_index(v, {1: 5, 2: 5, 4: 1}) == 1
    assert quorum.majority_vote_result(v, {1: True, 2: True}) == VoteResult.PENDING
    assert quorum.majority_vote_result(v, {1: False, 2: False, 3: False}) == VoteResult.LOST
