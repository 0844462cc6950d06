"""Backend messages encoded to the exact bytes of PostgreSQL 15 docs 55.7 "Message Formats"
and 55.8 "Error and Notice Message Fields" (expected bytes written out by hand)."""

from __future__ import annotations

import pytest
from pg_frames import msg, split_backend

from raftsql import pgwire as pw

GOLDEN: list[tuple[object, bytes]] = [
    (pw.AuthenticationOk(), msg(b"R", b"\0\0\0\0")),
    (pw.AuthenticationCleartextPassword(), msg(b"R", b"\0\0\0\3")),
    (pw.AuthenticationMD5Password(b"\1\2\3\4"), msg(b"R", b"\0\0\0\5\1\2\3\4")),
    (pw.AuthenticationSASL(), msg(b"R", b"\0\0\0\x0aSCRAM-SHA-256\0\0")),
    (pw.AuthenticationSASLContinue(b"r=a,s=b,i=1"), msg(b"R", b"\0\0\0\x0br=a,s=b,i=1")),
    (pw.AuthenticationSASLFinal(b"v=x"), msg(b"R", b"\0\0\0\x0cv=x")),
    (pw.ParameterStatus("client_encoding", "UTF8"), msg(b"S", b"client_encoding\0UTF8\0")),
    (pw.BackendKeyData(7, -1), msg(b"K", b"\0\0\0\7\xff\xff\xff\xff")),
    (pw.ReadyForQuery("T"), msg(b"Z", b"T")),
    (pw.RowDescription((pw.FieldDescription("id", 23, 4, -1, 1, 16384, 1),)),
     msg(b"T", b"\0\1id\0\0\0\x40\0\0\1\0\0\0\x17\0\4\xff\xff\xff\xff\0\1")),
    (pw.DataRow([b"1", None, b""]), msg(b"D", b"\0\3\0\0\0\1" b"1\xff\xff\xff\xff\0\0\0\0")),
    (pw.CommandComplete("INSERT 0 1"), msg(b"C", b"INSERT 0 1\0")),
    (pw.EmptyQueryResponse(), msg(b"I")),
    (pw.ParseComplete(), msg(b"1")),
    (pw.BindComplete(), msg(b"2")),
    (pw.CloseComplete(), msg(b"3")),
    (pw.NoData(), msg(b"n")),
    (pw.PortalSuspended(), msg(b"s")),
    (pw.ParameterDescription((23, 25)), msg(b"t", b"\0\2\0\0\0\x17\0\0\0\x19")),
    (pw.CopyInResponse(1, (1, 1)), msg(b"G", b"\1\0\2\0\1\0\1")),
    (pw.CopyOutResponse(0, (0,)), msg(b"H", b"\0\0\1\0\0")),
    (pw.CopyBothResponse(0, ()), msg(b"W", b"\0\0\0")),
    (pw.BackendCopyData(b"a\tb\n"), msg(b"d", b"a\tb\n")),
    (pw.BackendCopyDone(), msg(b"c")),
    (pw.NegotiateProtocolVersion(0, ("_pq_.a",)), msg(b"v", b"\0\0\0\0\0\0\0\1_pq_.a\0")),
    (pw.NotificationResponse(9, "ch", "hi"), msg(b"A", b"\0\0\0\x09ch\0hi\0")),
    (pw.ErrorResponse("ERROR", "42P01", 'relation "t" does not exist', position=15),
     msg(b"E", b"SERROR\0VERROR\0C42P01\0Mrelation \"t\" does not exist\0P15\0\0")),
    (pw.NoticeResponse("WARNING", "25001", "there is already a transaction in progress"),
     msg(b"N", b"SWARNING\0VWARNING\0C25001\0Mthere is already a transaction in progress\0\0")),
    (pw.ErrorResponse("ERROR", "23505", "dup", detail="Key (k)=(1) already exists.",
                      hint="h", schema_name="public", table_name="t", constraint_name="t_pkey"),
     msg(b"E", b"SERROR\0VERROR\0C23505\0Mdup\0DKey (k)=(1) already exists.\0Hh\0"
         b"spublic\0tt\0nt_pkey\0\0")),
    (pw.SSLResponse(False), b"N"),
    (pw.SSLResponse(True), b"S"),
    (pw.GSSENCResponse(), b"N"),
]


@pytest.mark.parametrize(("message", "expected"), GOLDEN, ids=[type(m).__name__ for m, _ in GOLDEN])
def test_encodes_to_documented_bytes(message: object, expected: bytes) -> None:
    assert message.encode() == expected  # type: ignore[attr-defined]


def test_data_row_fast_paths_agree() -> None:
    rows = [[b"1", None, b"x" * 300], [], [None]]
    joined = pw.encode_data_rows(rows)
    assert joined == b"".join(pw.DataRow(r).encode() for r in rows)
    assert [t for t, _ in split_backend(joined)] == [b"D", b"D", b"D"]


def test_strings_with_nul_are_refused() -> None:
    with pytest.raises(ValueError):
        pw.CommandComplete("a\0b").encode()
