"""A small quote-aware scanner for PostgreSQL SQL text.

Why not only sqlglot: sqlglot 30 cannot tokenize `VALUES ($1,$2)` (it takes `$1,$2` as the
start of a dollar-quoted string) and drops E'..' strings when writing SQLite. So before parsing
we walk the text once, respecting quotes and comments, and
  * split a multi-statement string at top-level semicolons,
  * rename `$n` to the placeholder `:__pN` that sqlglot parses cleanly,
  * turn E'..' and $tag$..$tag$ strings into standard '..' literals.
After generating SQLite SQL, `bind_markers` walks the output the same way to replace the
placeholders with `?` and record which `$n` each `?` binds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raftsql.sql import sqlstate
from raftsql.sql.errors import SqlError

PARAM_PREFIX = ":__p"
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_PARAM = re.compile(r"\$(\d+)")
_IDENT_CHAR = re.compile(r"[A-Za-z_0-9$]")
_INTERVAL = re.compile(r"interval\s*(?=')", re.I)
_INTERVAL_UNIT = re.compile(
    r"\s+(years?|months?|days?|hours?|minutes?|seconds?)\b(?:\s+to\s+(?:months?|hours?|minutes?|seconds?)\b)?",
    re.I)
INTERVAL_FUNCTION = "__pg_interval"
_U_ESCAPE = re.compile(r"\\(\\|[0-9A-Fa-f]{4}|\+[0-9A-Fa-f]{6})")
_E_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
MAX_PARAMS = 65535  # the Bind message carries an Int16 count


@dataclass(frozen=True)
class Piece:
    """One statement of a multi-statement string, pre-processed for sqlglot."""

    text: str  # the statement with $n -> :__pN and all strings made standard
    original: str  # the statement as the client wrote it (without the ';')
    offset: int  # where `original` starts in the client's text (0-based)
    nparams: int  # highest $n seen
    anchors: tuple[tuple[int, int], ...] = ()  # (index in text, index in client's text)

    def original_position(self, index: int) -> int:
        """1-based position in the client's whole query string of `text[index]` (for the
        ErrorResponse 'P' field); pre-processing shifts offsets, the anchors undo that."""
        best = (0, self.offset)
        for processed, original in self.anchors:
            if processed > index:
                break
            best = (processed, original)
        return best[1] + (index - best[0]) + 1


def _syntax_error(message: str, position: int) -> SqlError:
    return SqlError(sqlstate.SYNTAX_ERROR, message, position=position + 1)


def _standard_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_e_string(text: str, start: int) -> tuple[str, int]:
    """Decode E'...' starting at the quote `start`; return (value, index after closing quote)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _E_ESCAPES:
                out.append(_E_ESCAPES[nxt])
                i += 2
            elif nxt in "01234567":
                digits = re.match(r"[0-7]{1,3}", text[i + 1 :])
                assert digits is not None
                out.append(chr(int(digits.group(), 8)))
                i += 1 + len(digits.group())
            elif nxt == "x" and re.match(r"[0-9A-Fa-f]", text[i + 2 : i + 3]):
                digits = re.match(r"[0-9A-Fa-f]{1,2}", text[i + 2 :])
                assert digits is not None
                out.append(chr(int(digits.group(), 16)))
                i += 2 + len(digits.group())
            elif nxt in "uU":
                width = 4 if nxt == "u" else 8
                hexdigits = text[i + 2 : i + 2 + width]
                if len(hexdigits) != width or not all(c in "0123456789abcdefABCDEF" for c in hexdigits):
                    raise _syntax_error("invalid Unicode escape", i)
                out.append(chr(int(hexdigits, 16)))
                i += 2 + width
            else:
                out.append(nxt)
                i += 2
        elif ch == "'":
            if text[i + 1 : i + 2] == "'":
                out.append("'")
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise _syntax_error("unterminated quoted string", start)


def _skip_quoted(text: str, start: int, quote: str) -> int:
    """Index after the closing `quote` of a '..' or ".." token (doubled quote escapes)."""
    i = start + 1
    while True:
        j = text.find(quote, i)
        if j < 0:
            kind = "quoted identifier" if quote == '"' else "quoted string"
            raise _syntax_error(f"unterminated {kind}", start)
        if text[j + 1 : j + 2] == quote:
            i = j + 2
            continue
        return j + 1


def _skip_block_comment(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise _syntax_error("unterminated /* comment", start)


def split(text: str) -> list[Piece]:
    """Split at top-level ';' and pre-process each statement; empty statements are dropped."""
    pieces: list[Piece] = []
    out: list[str] = []
    stmt_start = 0
    nparams = 0
    i = 0
    n = len(text)

    anchors: list[tuple[int, int]] = []
    out_len = 0

    def emit(chunk: str) -> None:
        nonlocal out_len
        out.append(chunk)
        out_len += len(chunk)

    def flush(end: int) -> None:
        nonlocal out, nparams, anchors, out_len
        joined = "".join(out)
        body = joined.strip()
        original = text[stmt_start:end]
        if body:
            lead = len(original) - len(original.lstrip())
            cut = len(joined) - len(joined.lstrip())
            shifted = tuple((p - cut, o) for p, o in anchors if p >= cut)
            pieces.append(Piece(body, original.strip(), stmt_start + lead, nparams,
                                ((0, stmt_start + lead), *shifted)))
        out, nparams, anchors, out_len = [], 0, [], 0

    while i < n:
        if not anchors or anchors[-1][1] - anchors[-1][0] != i - out_len:
            anchors.append((out_len, i))  # offsets diverged after a rewritten token
        ch = text[i]
        prev_ident = i > 0 and bool(_IDENT_CHAR.match(text[i - 1]))
        if ch == ";":
            flush(i)
            stmt_start = i + 1
            i += 1
        elif ch == "'":
            j = _skip_quoted(text, i, "'")
            emit(text[i:j])
            i = j
        elif ch == '"':
            j = _skip_quoted(text, i, '"')
            emit(text[i:j])
            i = j
        elif ch in "iI" and not prev_ident and _INTERVAL.match(text, i):
            # sqlglot keeps only the first number of INTERVAL '1 day 02:30:00': keep all
            quote = _INTERVAL.match(text, i).end()  # type: ignore[union-attr]
            j = _skip_quoted(text, quote, "'")
            value = text[quote + 1 : j - 1].replace("''", "'")
            unit = _INTERVAL_UNIT.match(text, j)
            if unit:
                value, j = f"{value} {unit.group(1)}", unit.end()
            emit(f" {INTERVAL_FUNCTION}({_standard_literal(value)}) ")
            i = j
        elif ch in "uU" and text[i + 1 : i + 3] == "&'" and not prev_ident:
            j = _skip_quoted(text, i + 2, "'")
            if re.match(r"\s*UESCAPE\b", text[j:], re.I):
                raise SqlError(sqlstate.FEATURE_NOT_SUPPORTED, "UESCAPE is not supported")
            raw = text[i + 3 : j - 1].replace("''", "'")

            def _unicode(m: re.Match[str]) -> str:
                code = m.group(1)
                return "\\" if code == "\\" else chr(int(code.lstrip("+"), 16))

            emit(_standard_literal(_U_ESCAPE.sub(_unicode, raw)))
            i = j
        elif ch in "eE" and text[i + 1 : i + 2] == "'" and not prev_ident:
            value, j = _read_e_string(text, i + 1)
            emit(_standard_literal(value))
            i = j
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            emit(" ")
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
            emit(" ")
        elif ch == "$" and not prev_ident:
            param = _PARAM.match(text, i)
            tag = _DOLLAR_TAG.match(text, i)
            if param:
                number = int(param.group(1))
                if not 1 <= number <= MAX_PARAMS:
                    raise SqlError(
                        sqlstate.UNDEFINED_PARAMETER, f"there is no parameter ${number}",
                        position=i + 1,
                    )
                nparams = max(nparams, number)
                emit(f" {PARAM_PREFIX}{number} ")
                i = param.end()
            elif tag:
                end = text.find(tag.group(), tag.end())
                if end < 0:
                    raise _syntax_error("unterminated dollar-quoted string", i)
                emit(_standard_literal(text[tag.end() : end]))
                i = end + len(tag.group())
            else:
                emit(ch)
                i += 1
        else:
            emit(ch)
            i += 1
    flush(n)
    return pieces


_MARKER = re.compile(r":__p(\d+)|\b(pg_now|pg_current_date|pg_current_time|pg_localtimestamp"
                     r"|pg_random|pg_gen_random_uuid)\(\)|\b(pg_randomblob)\(", re.I)


def scan_generated(sql: str) -> list[tuple[int, int, str]]:
    """Find placeholder and nondeterministic-call markers in generated SQLite SQL.

    Returns (start, end, token) outside string literals and quoted identifiers, in order;
    token is '$N' (1-based) for a parameter, the function name (lower case) for a call, or
    'pg_randomblob(' for the start of a randomblob(n) call.
    """
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            i = _skip_quoted(sql, i, ch)
            continue
        if ch in ":pP":
            m = _MARKER.match(sql, i)
            if m and (i == 0 or not _IDENT_CHAR.match(sql[i - 1])):
                if m.group(1):
                    token = "$" + m.group(1)
                elif m.group(2):
                    token = m.group(2).lower()
                else:
                    token = "pg_randomblob("
                found.append((m.start(), m.end(), token))
                i = m.end()
                continue
        i += 1
    return found


def bind_markers(sql: str) -> tuple[str, tuple[int, ...]]:
    """Replace every :__pN marker by '?'; return the SQL and the 0-based $n of each '?'."""
    parts: list[str] = []
    order: list[int] = []
    last = 0
    for start, end, token in scan_generated(sql):
        if token.startswith("$"):
            parts.append(sql[last:start])
            parts.append("?")
            order.append(int(token[1:]) - 1)
            last = end
    parts.append(sql[last:])
    return "".join(parts), tuple(order)


def leading_words(text: str, count: int = 3) -> list[str]:
    """The first `count` bare words of a pre-processed statement, upper-cased."""
    return [w.upper() for w in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text[:200])[:count]]
