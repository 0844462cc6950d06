"""The replicated command and result formats (raftsql/sql/command.py).

Source of truth: STYLE.md rule 10 (versioned msgpack, explicit fields, never pickle) and the
brief's parameter contract (None/int/float/str/bytes/bool; Decimal, dates, UUID as text).
"""

from __future__ import annotations

import decimal
import hashlib
import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftsql.sql.command import (
    COMMAND_VERSION,
    Command,
    CommandDecodeError,
    CommandEncodeError,
    NewerCommandError,
    Stmt,
    StmtResult,
    decode,
    decode_results,
    encode,
    encode_results,
    result_digest,
)

params = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)
names = st.text(min_size=1, max_size=10)
commands = st.builds(
    Command,
    st.lists(st.builds(Stmt, st.text(), st.lists(params, max_size=5).map(tuple)), max_size=4).map(
        tuple
    ),
    st.integers(min_value=0, max_value=2**40),
    st.frozensets(names, max_size=3),
    st.frozensets(names, max_size=3),
    st.integers(min_value=0, max_value=2**40),
)


@given(commands)
def test_command_round_trips_exactly(cmd: Command) -> None:
    back = decode(encode(cmd))
    assert back == cmd
    for a, b in zip(back.stmts, cmd.stmts, strict=True):
        # bool must not come back as int (True == 1 would hide that)
        assert [type(p) for p in a.params] == [type(p) for p in b.params]


def test_encoding_is_deterministic_and_versioned() -> None:
    cmd = Command((Stmt("SELECT ?", (1,)),), 3, frozenset({"b", "a"}), frozenset({"a"}))
    data = encode(cmd)
    assert data[0] == COMMAND_VERSION
    assert encode(Command(cmd.stmts, 3, frozenset({"a", "b"}), frozenset({"a"}))) == data


def test_a_version_1_command_decodes_without_a_proposal_index() -> None:
    """Entries written before format 2 stay in logs and snapshots: they decode, with
    proposed_at 0 (no age limit, docs/transactions.md "Session expiry")."""
    v1 = b"\x01" + msgpack.packb([[["SELECT ?", [1]]], 3, ["a"], ["a"]], use_bin_type=True)
    assert decode(v1) == Command((Stmt("SELECT ?", (1,)),), 3, frozenset({"a"}),
                                 frozenset({"a"}), proposed_at=0)
    with pytest.raises(CommandDecodeError):  # five fields are format 2's, not 1's
        decode(b"\x01" + msgpack.packb([[], 0, [], [], 7]))


def test_a_later_format_is_told_apart_from_garbage() -> None:
    later = b"\x03" + msgpack.packb([[["SELECT 1", []]], 0, [], [], 5, "new"])
    with pytest.raises(NewerCommandError, match="newer than this release"):
        decode(later)
    for garbage in (b"\x03", b"\x03\xc1", b"\x07not a command", b"\x09\x05"):
        with pytest.raises(CommandDecodeError) as caught:
            decode(garbage)
        assert not isinstance(caught.value, NewerCommandError), garbage


@pytest.mark.parametrize("bad", [decimal.Decimal("1.5"), 2**64, -(2**63) - 1, object(), [1]])
def test_values_without_a_replicated_form_are_refused(bad: object) -> None:
    with pytest.raises(CommandEncodeError):
        encode(Command((Stmt("SELECT ?", (bad,)),)))  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_garbage_raises_only_the_typed_error(data: bytes) -> None:
    try:
        decode(data)
    except CommandDecodeError:
        pass


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01", b"\x02\x90", b"\x01\xc1", b"\x01\x94\x90\xff\x90\x90", b"\x01\x91\x01"],
)
def test_malformed_commands(data: bytes) -> None:
    with pytest.raises(CommandDecodeError):
        decode(data)


@given(
    st.lists(
        st.builds(
            StmtResult,
            st.lists(st.tuples(names, st.none() | names), max_size=3).map(tuple),
            st.lists(
                st.lists(params.filter(lambda v: not isinstance(v, bool)), max_size=3).map(tuple),
                max_size=3,
            ).map(tuple),
            st.integers(min_value=0, max_value=10**6),
            st.none() | st.integers(min_value=1, max_value=2**62),
            st.none() | st.tuples(st.just("23505"), st.text()),
        ),
        max_size=3,
    )
)
def test_results_round_trip(results: list[StmtResult]) -> None:
    assert decode_results(encode_results(results)) == results


def test_encoded_results_keep_their_bytes() -> None:
    """Stored results are replicated state (the session rows every node hashes into its
    checksum), so their bytes must not change from one release to the next: these are the
    bytes of the first format, written when every tuple was copied into a list first."""
    results = [
        StmtResult((("k", "INTEGER"), ("v", None)), ((1, "a", b"x", None, 1.5),), 1, 7),
        StmtResult.failed("23505", "dup"),
    ]
    assert encode_results(results).hex() == (
        "0192959292a16ba7494e544547455292a176c0919501a161c40178c0cb3ff80000000000000107c0959090"
        "00c092a53233353035a3647570"
    )


def test_float_values_survive_bit_for_bit() -> None:
    r = StmtResult(rows=((0.1, -0.0, math.inf),))
    back = decode_results(encode_results([r]))[0].rows[0]
    assert back[0] == 0.1 and math.copysign(1, back[1]) == -1 and back[2] == math.inf


@pytest.mark.parametrize(
    "results",
    [
        [StmtResult(rowcount=1)],
        [StmtResult(rowcount=0)],
        [StmtResult(rowcount=1, lastrowid=7)],  # an insert id: not a row count alone
        [StmtResult(columns=(("v", None),))],  # a query without rows
        [StmtResult(columns=(("v", None),), rows=((1,),), rowcount=1)],
        [StmtResult.failed("23505", "dup")],
        [StmtResult(rowcount=1), StmtResult(rowcount=1)],
    ],
)
def test_encoded_results_are_the_same_every_time(results: list[StmtResult]) -> None:
    """A result that is a row count alone is encoded once per row count and remembered. Every
    node hashes the stored bytes into its checksum, so the second encoding, and the encoding
    of every other shape, must be the format's bytes."""
    body = [[list(r.columns), list(r.rows), r.rowcount, r.lastrowid, r.error] for r in results]
    expected = bytes([1]) + msgpack.packb(body, use_bin_type=True)
    assert encode_results(results) == expected
    assert encode_results(results) == expected


def test_result_digest_is_the_same_for_a_result_without_rows_every_time() -> None:
    """The digest of what a client saw is compared at apply on every node, so its bytes are
    part of the replicated format. A result without rows has one remembered digest per row
    count: it must be the same as the first time it was computed, and a result with rows must
    digest differently from one without."""

    def expected(rowcount: int, rows: list[list[object]]) -> bytes:
        body = msgpack.packb([rowcount, rows], use_bin_type=True)
        return hashlib.blake2b(body, digest_size=16).digest()

    for rowcount in (0, 1, 7, 2**40):
        first = result_digest(StmtResult(rowcount=rowcount))
        assert first == expected(rowcount, [])
        assert result_digest(StmtResult(rowcount=rowcount, lastrowid=99)) == first
    with_rows = StmtResult(rows=((1, "a"),), rowcount=1)
    assert result_digest(with_rows) == expected(1, [[1, "a"]])
    assert result_digest(with_rows) != result_digest(StmtResult(rowcount=1))
