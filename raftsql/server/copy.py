"""COPY: the statement's grammar and the text, csv and binary data formats.

Why here and not in the translator: COPY is a protocol sub-conversation (CopyInResponse,
CopyData..., CopyDone), not SQL SQLite could run, so the session parses it and turns the data
into INSERTs (FROM STDIN) or a SELECT (TO STDOUT). Formats follow PostgreSQL 15's COPY
reference page ("File Formats"): text with backslash escapes and \\N, csv with quoting and
unquoted-empty = NULL, and the binary format with its PGCOPY header.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from raftsql.sql.errors import SqlError

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
MAX_ROW_BYTES = 64 * 1024 * 1024  # bound on one unfinished row held in memory
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'
_HEAD = re.compile(rf"^\s*COPY\s+(?:(?P<table>{_IDENT}(?:\s*\.\s*{_IDENT})?)\s*"
                   rf"(?:\((?P<cols>[^)]*)\))?|(?P<query>\())", re.IGNORECASE | re.DOTALL)


@dataclass
class CopySpec:
    direction: str  # 'from' (FROM STDIN) or 'to' (TO STDOUT)
    table: str | None
    columns: tuple[str, ...] | None
    query: str | None  # COPY (query) TO STDOUT
    format: str = "text"
    delimiter: str = "\t"
    null: str = "\\N"
    header: bool = False
    quote: str = '"'
    escape: str = '"'


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _balanced(text: str, start: int) -> int:
    """Index just past the ')' matching the '(' at `start` (quotes respected)."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            end = text.find(c, i + 1)
            i = n if end < 0 else end
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise SqlError("42601", "syntax error at end of input")


def _string(value: str) -> str:
    value = value.strip()
    if value.upper().startswith("E'"):
        value = value[1:]
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        inner = value[1:-1].replace("''", "'")
        return inner.encode().decode("unicode_escape") if "\\" in inner and len(inner) > 1 else inner
    return value


def _options(spec: CopySpec, text: str) -> None:
    text = text.strip().rstrip(";").strip()
    if text.upper().startswith("WITH"):
        text = text[4:].strip()
    if text.startswith("("):
        body = text[1:_balanced(text, 0) - 1]
        items = [i.strip() for i in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", body) if i.strip()]
        for item in items:
            name, _, value = item.partition(" ")
            _option(spec, name.lower(), value.strip())
        return
    tokens = re.findall(r"E?'(?:[^']|'')*'|\S+", text)
    i = 0
    while i < len(tokens):
        word = tokens[i].lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if word == "binary":
            spec.format = "binary"
        elif word == "csv":
            spec.format = "csv"
            spec.delimiter = "," if spec.delimiter == "\t" else spec.delimiter
            spec.null = "" if spec.null == "\\N" else spec.null
        elif word == "header":
            spec.header = True
        elif word in ("delimiter", "null", "quote", "escape"):
            if nxt.lower() == "as":
                i += 1
                nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            _option(spec, word, nxt)
            i += 1
        elif word in ("oids", "freeze"):
            pass
        else:
            raise SqlError("42601", f'syntax error at or near "{tokens[i]}"')
        i += 1


def _option(spec: CopySpec, name: str, value: str) -> None:
    if name == "format":
        fmt = _string(value).lower()
        if fmt not in ("text", "csv", "binary"):
            raise SqlError("22023", f'COPY format "{fmt}" not recognized')
        spec.format = fmt
        if fmt == "csv":
            spec.delimiter = "," if spec.delimiter == "\t" else spec.delimiter
            spec.null = "" if spec.null == "\\N" else spec.null
    elif name == "delimiter":
        spec.delimiter = _string(value)
        if len(spec.delimiter) != 1:
            raise SqlError("0A000", "COPY delimiter must be a single one-byte character")
    elif name == "null":
        spec.null = _string(value)
    elif name == "header":
        spec.header = value.lower() not in ("false", "off", "0")
    elif name == "quote":
        spec.quote = _string(value)
    elif name == "escape":
        spec.escape = _string(value)
    elif name in ("freeze", "encoding", "force_not_null", "force_null", "force_quote"):
        pass  # FREEZE is a hint; encodings other than UTF8 are not offered
    else:
        raise SqlError("42601", f'option "{name}" not recognized')


def parse(sql: str) -> CopySpec | None:
    """The COPY statement in `sql`, or None when `sql` is not a COPY."""
    m = _HEAD.match(sql)
    if m is None:
        return None
    if m.group("query"):
        end = _balanced(sql, m.start("query"))
        query, table, columns = sql[m.start("query") + 1:end - 1], None, None
        rest = sql[end:]
    else:
        query, table = None, _unquote(m.group("table").split(".")[-1])
        cols = m.group("cols")
        columns = tuple(_unquote(c) for c in cols.split(",")) if cols is not None else None
        rest = sql[m.end():]
    d = re.match(r"\s*(FROM\s+STDIN|TO\s+STDOUT)\b", rest, re.IGNORECASE)
    if d is None:
        raise SqlError("0A000", "COPY supports only FROM STDIN and TO STDOUT "
                       "(a file on the server would be node-local)")
    direction = "from" if d.group(1).upper().startswith("FROM") else "to"
    if direction == "from" and query is not None:
        raise SqlError("42601", 'syntax error at or near "FROM"')
    spec = CopySpec(direction, table, columns, query)
    _options(spec, rest[d.end():])
    if spec.format == "csv" and spec.escape == '"' and spec.quote != '"':
        spec.escape = spec.quote
    return spec


# --------------------------------------------------------------------------- decoding

_TEXT_ESCAPES = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r",
                 ord("t"): b"\t", ord("v"): b"\v"}


def _unescape_text(field: bytes) -> bytes:
    if b"\\" not in field:
        return field
    out, i, n = bytearray(), 0, len(field)
    while i < n:
        c = field[i]
        if c != 0x5C or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = field[i + 1]
        if nxt in _TEXT_ESCAPES:
            out += _TEXT_ESCAPES[nxt]
            i += 2
        elif 0x30 <= nxt <= 0x37:
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= field[j] <= 0x37:
                j += 1
            out.append(int(field[i + 1:j], 8) & 0xFF)
            i = j
        elif nxt == ord("x") and i + 2 < n and chr(field[i + 2]) in "0123456789abcdefABCDEF":
            j = i + 2
            while j < n and j < i + 4 and chr(field[j]) in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(field[i + 2:j], 16))
            i = j
        else:
            out.append(nxt)
            i += 2
    return bytes(out)


class Decoder:
    """Incremental COPY FROM STDIN decoder: feed CopyData chunks, take whole rows."""

    def __init__(self, spec: CopySpec, ncolumns: int) -> None:
        self.spec = spec
        self.ncolumns = ncolumns
        self.buf = bytearray()
        self.done = False  # saw the end marker (\. or the binary trailer)
        self._header_pending = spec.header or spec.format == "binary"
        self.line = 0

    def feed(self, data: bytes) -> Iterator[list[bytes | None]]:
        if self.done:
            return
        self.buf += data
        if len(self.buf) > MAX_ROW_BYTES:
            raise SqlError("54000", f"COPY row is longer than {MAX_ROW_BYTES} bytes")
        if self.spec.format == "binary":
            yield from self._binary()
        else:
            yield from self._lines(final=False)

    def finish(self) -> Iterator[list[bytes | None]]:
        """Rows left at CopyDone (a last line without newline)."""
        if self.spec.format == "binary":
            if self.buf and not self.done:
                raise SqlError("22P04", "unexpected EOF in COPY data")
            return
        yield from self._lines(final=True)

    def _check(self, row: list[bytes | None]) -> list[bytes | None]:
        self.line += 1
        if len(row) != self.ncolumns:
            if len(row) < self.ncolumns:
                raise SqlError("22P04", f"missing data for column, line {self.line}")
            raise SqlError("22P04", f"extra data after last expected column, line {self.line}")
        return row

    def _lines(self, final: bool) -> Iterator[list[bytes | None]]:
        csv = self.spec.format == "csv"
        while not self.done:
            end = self._csv_record_end() if csv else self.buf.find(b"\n")
            if end < 0:
                if not final or not self.buf:
                    return
                end = len(self.buf)
            raw = bytes(self.buf[:end])
            del self.buf[:end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if raw == b"\\.":
                self.done = True
                return
            if self._header_pending:
                self._header_pending = False
                continue
            yield self._check(self._csv_fields(raw) if csv else self._text_fields(raw))

    def _text_fields(self, raw: bytes) -> list[bytes | None]:
        delim = self.spec.delimiter.encode()
        null = self.spec.null.encode()
        if b"\\" not in raw:
            return [None if f == null else f for f in raw.split(delim)]
        fields: list[bytes | None] = []
        # split on unescaped delimiters
        start, i, n = 0, 0, len(raw)
        while i <= n:
            if i == n or raw[i:i + 1] == delim:
                f = raw[start:i]
                fields.append(None if f == null else _unescape_text(f))
                start = i + 1
                i += 1
            elif raw[i] == 0x5C:
                i += 2
            else:
                i += 1
        return fields

    def _csv_record_end(self) -> int:
        quote = self.spec.quote.encode()[0]
        escape = self.spec.escape.encode()[0]
        inq, i, buf = False, 0, self.buf
        n = len(buf)
        while i < n:
            c = buf[i]
            if inq:
                if c == escape and escape != quote and i + 1 < n and buf[i + 1] in (quote, escape):
                    i += 2
                    continue
                if c == quote:
                    if escape == quote and i + 1 < n and buf[i + 1] == quote:
                        i += 2
                        continue
                    inq = False
            elif c == quote:
                inq = True
            elif c == 0x0A:
                return i
            i += 1
        return -1

    def _csv_fields(self, raw: bytes) -> list[bytes | None]:
        delim = self.spec.delimiter.encode()[0]
        quote = self.spec.quote.encode()[0]
        escape = self.spec.escape.encode()[0]
        null = self.spec.null.encode()
        fields: list[bytes | None] = []
        cur, quoted, inq, i, n = bytearray(), False, False, 0, len(raw)
        while i <= n:
            if i == n:
                value = bytes(cur)
                fields.append(None if not quoted and value == null else value)
                break
            c = raw[i]
            if inq:
                if c == escape and i + 1 < n and raw[i + 1] in (quote, escape) and (
                        escape != quote or raw[i + 1] == quote):
                    cur.append(raw[i + 1])
                    i += 2
                    continue
                if c == quote:
                    inq = False
                else:
                    cur.append(c)
            elif c == quote:
                inq = quoted = True
            elif c == delim:
                value = bytes(cur)
                fields.append(None if not quoted and value == null else value)
                cur, quoted = bytearray(), False
            else:
                cur.append(c)
            i += 1
        return fields

    def _binary(self) -> Iterator[list[bytes | None]]:
        buf = self.buf
        if self._header_pending:
            if len(buf) < 19:
                return
            if bytes(buf[:11]) != BINARY_SIGNATURE:
                raise SqlError("22P04", "COPY file signature not recognized")
            (ext,) = _I32.unpack_from(buf, 15)
            if len(buf) < 19 + ext:
                return
            del buf[:19 + ext]
            self._header_pending = False
        while len(buf) >= 2:
            (count,) = _I16.unpack_from(buf, 0)
            if count == -1:
                self.done = True
                del buf[:2]
                return
            pos = 2
            row: list[bytes | None] = []
            for _ in range(count):
                if len(buf) < pos + 4:
                    return
                (size,) = _I32.unpack_from(buf, pos)
                pos += 4
                if size == -1:
                    row.append(None)
                    continue
                if size < 0:
                    raise SqlError("22P04", "invalid field size")
                if len(buf) < pos + size:
                    return
                row.append(bytes(buf[pos:pos + size]))
                pos += size
            del buf[:pos]
            yield self._check(row)


# --------------------------------------------------------------------------- encoding

_TEXT_OUT = {0x5C: b"\\\\", 0x08: b"\\b", 0x0C: b"\\f", 0x0A: b"\\n", 0x0D: b"\\r",
             0x09: b"\\t", 0x0B: b"\\v"}


def encode_row(spec: CopySpec, fields: list[bytes | None]) -> bytes:
    """One COPY TO STDOUT row; `fields` hold text-format values (binary: binary values)."""
    if spec.format == "binary":
        parts = [_I16.pack(len(fields))]
        for f in fields:
            parts.append(_I32.pack(-1) if f is None else _I32.pack(len(f)) + f)
        return b"".join(parts)
    delim = spec.delimiter.encode()
    if spec.format == "csv":
        out = []
        q = spec.quote.encode()
        for f in fields:
            if f is None:
                out.append(spec.null.encode())
            elif (not f and not spec.null) or any(ch in f for ch in (delim, q, b"\n", b"\r")) \
                    or f == spec.null.encode():
                out.append(q + f.replace(q, spec.escape.encode() + q) + q)
            else:
                out.append(f)
        return delim.join(out) + b"\n"
    out = []
    for f in fields:
        if f is None:
            out.append(spec.null.encode())
        else:
            if any(b in _TEXT_OUT for b in f) or delim in f:
                f = b"".join(_TEXT_OUT[b] if b in _TEXT_OUT else (
                    b"\\" + delim if bytes([b]) == delim else bytes([b])) for b in f)
            out.append(f)
    return delim.join(out) + b"\n"


def binary_header() -> bytes:
    return BINARY_SIGNATURE + _I32.pack(0) + _I32.pack(0)


def binary_trailer() -> bytes:
    return _I16.pack(-1)


def header_row(spec: CopySpec, names: list[str]) -> bytes:
    return encode_row(spec, [n.encode() for n in names])
