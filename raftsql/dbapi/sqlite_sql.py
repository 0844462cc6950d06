"""The SQLite-dialect path: SQLite SQL text -> ``Translated`` statements, without the PG
translator.

Why a separate path: an embedded application written for ``sqlite3`` sends SQLite SQL, and
running it through the PostgreSQL translator would change its meaning (``||`` on NULL, type
names, ``INT PRIMARY KEY``...). So the text is kept as written and only three things are done,
on a quote- and comment-aware token scan (never by regenerating SQL with sqlglot, which drops
``STRICT``, rewrites ``INT`` to ``INTEGER`` and so changes rowid aliasing):

* parameters (``?``, ``?NNN``, ``:name``, ``@name``, ``$name``) become ``?`` with a
  ``param_order`` as the PG path produces, so ``determinism.bind`` works unchanged;
* the nondeterministic calls of SQLite (``datetime('now')``, a time function without a time
  value, ``CURRENT_TIMESTAMP``/``_DATE``/``_TIME``, ``random()``, ``randomblob(n)``) are
  rewritten into the markers the PG path emits (``pg_localtimestamp()``, ``pg_random()``,
  ``pg_randomblob(``), so ``determinism.fix_nondeterminism`` makes the leader fix them before
  it proposes (ARCHITECTURE.md "Determinism"). ``random()`` keeps SQLite's type, a 64-bit
  integer, drawn from the leader's seeded stream (53 bits of it: it goes through a double);
* a column DEFAULT that is nondeterministic is stored as ``pg_unfixed_default('expr')``, the
  same convention the PG DDL rewrite uses, so an INSERT that omits it gets an explicit value
  chosen by the leader (``determinism._add_default_columns``).

Statement splitting follows ``sqlite3_complete`` (``apsw.complete``), which knows that
``CREATE TRIGGER ... BEGIN ...; END`` is one statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import apsw

from raftsql.sql import sqlstate
from raftsql.sql.classify import SessionAction, StatementKind, Translated, TxnAction
from raftsql.sql.errors import SqlError, unsupported
from raftsql.sql.functions import SEEDED_FUNCTIONS, internal_function_error

TIME_FUNCTIONS = frozenset({"date", "time", "datetime", "julianday", "unixepoch", "strftime",
                            "timediff"})
_CLOCK_KEYWORDS = {"current_timestamp": "datetime", "current_date": "date",
                   "current_time": "time"}
NOW = "pg_localtimestamp()"
RANDOM_INT = "CAST(pg_random() * 18446744073709551616.0 - 9223372036854775808.0 AS INTEGER)"
_RANDOM_INT_DEFAULT = "CAST(random() * 18446744073709551616.0 - 9223372036854775808.0 AS BIGINT)"
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")
_NAMED = re.compile(r"[:@$][A-Za-z_0-9]+")
_NUMBERED = re.compile(r"\?(\d*)")
_WRITE_WORDS = {"INSERT": "INSERT", "REPLACE": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}
_NONDETERMINISTIC = re.compile(r"pg_localtimestamp\(\)|pg_random\(\)|pg_randomblob\(")


@dataclass(frozen=True)
class SqliteStatement:
    """One statement of the SQLite dialect.

    ``names`` lists the parameter names for named placeholders (``:a`` etc., without the
    prefix), in the order of ``translated.param_order``'s indexes; empty for qmark style."""

    translated: Translated
    names: tuple[str, ...] = ()

    @property
    def named(self) -> bool:
        return bool(self.names)


def first_word(text: str) -> str:
    """The statement's first keyword, upper case, after comments (as sqlite3 finds DML)."""
    words = _words(_scan(text)[1], 1)
    return words[0] if words else ""


def split(sql: str) -> list[str]:
    """Split at statement ends as SQLite does; an incomplete tail is kept as a statement
    (SQLite then reports it as a syntax error). Empty statements are dropped."""
    out: list[str] = []
    current = ""
    parts = sql.split(";")
    for i, chunk in enumerate(parts):
        current += chunk
        if i < len(parts) - 1:
            current += ";"
            if apsw.complete(current):
                out.append(current)
                current = ""
    if current.strip():
        out.append(current)
    return [s.strip().rstrip(";").strip() for s in out if _has_code(s)]


def _has_code(text: str) -> bool:
    return bool(_scan(text)[0].strip(" ;\n\t"))


def _skip_quoted(text: str, i: int, close: str) -> int:
    j = i + 1
    while True:
        k = text.find(close, j)
        if k < 0:
            return len(text)
        if close != "]" and text[k + 1 : k + 2] == close:
            j = k + 2
            continue
        return k + 1


def _scan(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text with comments blanked, tokens) where a token is (kind, text) and kind is one of
    'word', 'string', 'quoted', 'param', 'punct', 'space'."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            j = _skip_quoted(text, i, "'")
            tokens.append(("string", text[i:j]))
        elif ch in '"`[':
            j = _skip_quoted(text, i, {"[": "]"}.get(ch, ch))
            tokens.append(("quoted", text[i:j]))
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            tokens.append(("space", " "))
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            tokens.append(("space", " "))
        elif ch == "?":
            m = _NUMBERED.match(text, i)
            assert m is not None
            j = m.end()
            tokens.append(("param", m.group()))
        elif ch in ":@$" and _NAMED.match(text, i) and not (
                tokens and tokens[-1][0] == "word" and ch == "$"):
            m = _NAMED.match(text, i)
            assert m is not None
            j = m.end()
            tokens.append(("param", m.group()))
        elif ch.isalpha() or ch == "_":
            m = _WORD.match(text, i)
            assert m is not None
            j = m.end()
            tokens.append(("word", m.group()))
        elif ch.isspace():
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            tokens.append(("space", text[i:j]))
        else:
            j = i + 1
            tokens.append(("punct", ch))
        i = j
    return "".join(t for _k, t in tokens), tokens


def _next_code(tokens: list[tuple[str, str]], i: int) -> int:
    while i < len(tokens) and tokens[i][0] == "space":
        i += 1
    return i


def _rewrite(tokens: list[tuple[str, str]]) -> tuple[str, list[int | str]]:
    """Rewrite parameters and nondeterministic calls; returns (sql, [param key per '?'])
    where a key is a 0-based position (int) or a name (str)."""
    out: list[str] = []
    keys: list[int | str] = []
    stack: list[tuple[str, int]] = []  # (function name or '', number of arguments seen)
    auto = 0
    previous: tuple[str, str] = ("space", "")
    for i, (kind, text) in enumerate(tokens):
        lower = text.lower()
        if kind != "space":
            before, previous = previous, (kind, text)
        if kind == "param":
            if text.startswith("?"):
                if len(text) > 1:
                    auto = int(text[1:])
                    keys.append(auto - 1)
                else:
                    keys.append(auto)
                    auto += 1
            else:
                keys.append(text[1:])
            out.append("?")
            continue
        following = _next_code(tokens, i + 1)
        call = following < len(tokens) and tokens[following] == ("punct", "(")
        if call and kind in ("word", "quoted"):
            name = lower if kind == "word" else lower[1:-1]
            if name in SEEDED_FUNCTIONS:
                raise internal_function_error(name)
        if kind == "word" and lower in _CLOCK_KEYWORDS and not call:
            out.append(f"{_CLOCK_KEYWORDS[lower]}({NOW})")
            continue
        if kind == "word" and call and lower == "random":
            close = _next_code(tokens, following + 1)
            if close < len(tokens) and tokens[close] == ("punct", ")"):
                out.append(RANDOM_INT)
                for k in range(i + 1, close + 1):  # swallow '( )'
                    tokens[k] = ("space", "")
                continue
        if kind == "word" and call and lower == "randomblob":
            out.append("pg_randomblob")
            continue
        if kind == "punct" and text == "(":
            name = before[1].lower() if before[0] == "word" else ""
            stack.append((name, 0))
            out.append(text)
            if name in TIME_FUNCTIONS and name != "strftime" and name != "timediff":
                close = _next_code(tokens, i + 1)
                if close < len(tokens) and tokens[close] == ("punct", ")"):
                    out.append(NOW)  # date() / unixepoch(): the time value defaults to 'now'
            continue
        if kind == "punct" and text == ")":
            if stack:
                name, args = stack.pop()
                if name == "strftime" and args == 0:
                    out.append(", " + NOW)  # strftime(fmt): 'now'
            out.append(text)
            continue
        if kind == "punct" and text == "," and stack:
            name, args = stack[-1]
            stack[-1] = (name, args + 1)
        if kind == "string" and stack and stack[-1][0] in TIME_FUNCTIONS:
            word = text[1:-1].strip().lower()
            if word == "now":
                out.append(NOW)
                continue
            if word in ("localtime", "utc"):
                raise unsupported(f"the SQLite {word!r} modifier (it depends on the node's "
                                  "timezone)")
        out.append(text)
    return "".join(out), keys


def _default_expression(tokens: list[tuple[str, str]], start: int) -> tuple[int, str] | None:
    """For DEFAULT at tokens[start]: (index after the default, its text) if nondeterministic."""
    i = _next_code(tokens, start + 1)
    if i >= len(tokens):
        return None
    kind, text = tokens[i]
    if kind == "word" and text.lower() in _CLOCK_KEYWORDS:
        return i + 1, f"{_CLOCK_KEYWORDS[text.lower()]}('now')"
    if tokens[i] != ("punct", "("):
        return None
    depth, j = 0, i
    while j < len(tokens):
        if tokens[j] == ("punct", "("):
            depth += 1
        elif tokens[j] == ("punct", ")"):
            depth -= 1
            if depth == 0:
                break
        j += 1
    inner = tokens[i + 1 : j]
    rewritten, _ = _rewrite(list(inner))
    if not _NONDETERMINISTIC.search(rewritten):
        return None
    body = "".join(t for _k, t in inner).strip()
    body = re.sub(r"\brandom\s*\(\s*\)", _RANDOM_INT_DEFAULT, body, flags=re.I)
    for word, func in _CLOCK_KEYWORDS.items():
        body = re.sub(rf"\b{word}\b(?!\s*\()", f"{func}('now')", body, flags=re.I)
    return j + 1, body


def _fix_defaults(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """DEFAULT <nondeterministic> -> DEFAULT (pg_unfixed_default('<expr>')) in DDL; the
    expression must be one the leader can evaluate (checked here, 0A000 otherwise)."""
    from raftsql.sql.translate import translate

    out: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "word" and text.upper() == "DEFAULT":
            found = _default_expression(tokens, i)
            if found is not None:
                end, expression = found
                try:
                    translate(f"SELECT {expression}")
                except SqlError:
                    raise unsupported(f"the nondeterministic default ({expression})") from None
                quoted = expression.replace("'", "''")
                out.append(("word", f"DEFAULT (pg_unfixed_default('{quoted}'))"))
                i = end
                continue
        out.append(tokens[i])
        i += 1
    return out


def _words(tokens: list[tuple[str, str]], count: int) -> list[str]:
    return [t.upper() for k, t in tokens if k == "word"][:count]


def _insert_target(tokens: list[tuple[str, str]]) -> tuple[str | None, tuple[str, ...] | None]:
    """Table and explicit column list of INSERT/REPLACE ... INTO t [(cols)]."""
    code = [(k, t) for k, t in tokens if k != "space"]
    for pos, (k, t) in enumerate(code):
        if k == "word" and t.upper() == "INTO" and pos + 1 < len(code):
            name_pos = pos + 1
            if pos + 3 < len(code) and code[pos + 2] == ("punct", "."):
                name_pos = pos + 3  # schema.table
            table = _ident(code[name_pos][1])
            if (name_pos + 2 < len(code) and code[name_pos + 1][0] == "word"
                    and code[name_pos + 1][1].upper() == "AS"):
                name_pos += 2  # INSERT INTO t AS alias (cols): the list follows the alias
            tail = [t.upper() for k, t in code[name_pos + 1 : name_pos + 3] if k == "word"]
            if tail == ["DEFAULT", "VALUES"]:
                return table, ()
            cols: list[str] = []
            if name_pos + 1 < len(code) and code[name_pos + 1] == ("punct", "("):
                for k2, t2 in code[name_pos + 2 :]:
                    if (k2, t2) == ("punct", ")"):
                        return table, tuple(cols)
                    if k2 in ("word", "quoted"):
                        cols.append(_ident(t2))
            return table, None
    return None, None


def _trigger_inserts(tokens: list[tuple[str, str]]
                     ) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """The (table, column list) of every INSERT or REPLACE in a trigger's body: a column it
    leaves out gets its DEFAULT when the trigger fires, on every node, with no leader to fix a
    nondeterministic one first (determinism.fix_nondeterminism refuses those)."""
    code = [tok for tok in tokens if tok[0] != "space"]
    begin = _trigger_body(code)
    if begin is None:
        return ()
    found = []
    statement: list[tuple[str, str]] = []
    for token in [*code[begin:], ("punct", ";")]:
        if token != ("punct", ";"):
            statement.append(token)
            continue
        if statement and statement[0][0] == "word" and statement[0][1].upper() in (
                "INSERT", "REPLACE"):
            table, columns = _insert_target(statement)
            if table is not None:
                found.append((table, columns))
        statement = []
    return tuple(found)


def _trigger_body(code: list[tuple[str, str]]) -> int | None:
    """Where a trigger's body starts: after the BEGIN that follows ``ON [schema.]table`` (and
    any FOR EACH ROW / WHEN) outside parentheses. ``begin`` may also name a column, the
    trigger or the table, so the first BEGIN word is not enough."""
    depth, on = 0, None
    for pos, (kind, text) in enumerate(code):
        if kind == "punct":
            depth += text == "("
            depth -= text == ")"
            continue
        if depth or kind != "word":
            continue
        word = text.upper()
        if on is None:
            if word == "ON" and pos > 2:  # CREATE TRIGGER name ... ON
                on = pos + 2  # the table name
                if on < len(code) and code[on] == ("punct", "."):
                    on += 2  # schema.table
        elif pos >= on and word == "BEGIN" and code[pos - 1] != ("punct", "."):
            return pos + 1
    return None


def _ident(text: str) -> str:
    if text[:1] in '"`[':
        return text[1:-1].replace(text[0] * 2, text[0]) if text[0] != "[" else text[1:-1]
    return text


def _top_level_write(tokens: list[tuple[str, str]]) -> str | None:
    """For WITH ...: the DML word at parenthesis depth 0, if any."""
    depth = 0
    for kind, text in tokens:
        if kind == "punct":
            depth += {"(": 1, ")": -1}.get(text, 0)
        elif kind == "word" and depth == 0 and text.upper() in _WRITE_WORDS:
            return _WRITE_WORDS[text.upper()]
    return None


def _as_select(tokens: list[tuple[str, str]]) -> bool:
    """CREATE TABLE ... AS SELECT: its rows are computed once, by the leader's values (as the
    PG path does), unlike a view or trigger body, which runs later."""
    code = [(k, t.upper()) for k, t in tokens if k != "space"]
    depth = 0
    for pos, (kind, text) in enumerate(code):
        if kind == "punct":
            depth += {"(": 1, ")": -1}.get(text, 0)
        elif depth == 0 and (kind, text) == ("word", "AS") and pos + 1 < len(code):
            return code[pos + 1][1] in ("SELECT", "WITH", "VALUES", "(")
    return False


def _txn(text: str, words: list[str]) -> Translated | None:
    def make(tag: str, action: TxnAction) -> Translated:
        return Translated(StatementKind.TRANSACTION, tag, (), 0, tag, False, False,
                          original=text, txn=action)

    first = words[0]
    if first == "BEGIN":
        return make("BEGIN", TxnAction("begin"))
    if first in ("COMMIT", "END"):
        return make("COMMIT", TxnAction("commit"))
    if first == "ROLLBACK":
        m = re.search(r"\bTO\s+(?:SAVEPOINT\s+)?(\S+)\s*$", text, re.I)
        if m:
            return make("ROLLBACK", TxnAction("rollback_to", name=_ident(m.group(1)).lower()))
        if re.search(r"\bTO\b", text, re.I):
            raise SqlError(sqlstate.SYNTAX_ERROR, 'near "TO": syntax error')
        return make("ROLLBACK", TxnAction("rollback"))
    if first in ("SAVEPOINT", "RELEASE"):
        m = re.search(r"\s(\S+)\s*$", text)
        if not m or (first == "RELEASE" and m.group(1).upper() == "SAVEPOINT"):
            raise SqlError(sqlstate.SYNTAX_ERROR, f"syntax error in {first}")
        name = _ident(m.group(1)).lower()
        return make(first, TxnAction("savepoint" if first == "SAVEPOINT" else "release",
                                     name=name))
    return None


def translate_sqlite(sql: str) -> list[SqliteStatement]:
    """Every statement of a SQLite-dialect text, ready for ``Database.run``."""
    return [_translate_one(stmt) for stmt in split(sql)]


def _translate_one(text: str) -> SqliteStatement:
    _, tokens = _scan(text)
    words = _words(tokens, 3)
    if not words:
        raise SqlError(sqlstate.SYNTAX_ERROR, f'near "{text[:20]}": syntax error')
    first = words[0]
    txn = _txn(text, words)
    if txn is not None:
        return SqliteStatement(txn)
    if first in ("ATTACH", "DETACH"):
        raise SqlError(sqlstate.INSUFFICIENT_PRIVILEGE,
                       f"{first} is not allowed: it would touch node-local files")
    if first in ("VACUUM", "ANALYZE", "REINDEX"):
        if "INTO" in _words(tokens, 10):
            raise SqlError(sqlstate.INSUFFICIENT_PRIVILEGE,
                           "VACUUM INTO writes a node-local file and is not allowed")
        return SqliteStatement(Translated(StatementKind.SESSION, "", (), 0, first, False, False,
                                          original=text,
                                          session=SessionAction("noop", name=first.lower())))
    table: str | None = None
    insert_columns: tuple[str, ...] | None = None
    if first in ("CREATE", "DROP", "ALTER"):
        kind, tag = StatementKind.DDL, " ".join(words[:2])
        tokens = _fix_defaults(tokens)
    elif first in _WRITE_WORDS:
        kind, tag = StatementKind.WRITE, _WRITE_WORDS[first]
        if first == "REPLACE":  # the same statement in SQLite; sqlglot parses only this form
            at = next(i for i, (k, w) in enumerate(tokens) if k == "word")
            tokens[at] = ("word", "INSERT OR REPLACE")
    elif first == "WITH":
        write = _top_level_write(tokens)
        kind, tag = (StatementKind.WRITE, write) if write else (StatementKind.READ, "SELECT")
    else:  # SELECT, VALUES, EXPLAIN, PRAGMA (the authorizer refuses writable pragmas)
        kind, tag = StatementKind.READ, "SELECT" if first != "PRAGMA" else "PRAGMA"
    if kind is StatementKind.WRITE and tag == "INSERT":
        table, insert_columns = _insert_target(tokens)
    rewritten, keys = _rewrite(tokens)
    markers = bool(_NONDETERMINISTIC.search(rewritten))
    trigger = first == "CREATE" and (words[1:2] == ["TRIGGER"] or (
        words[1:2] in (["TEMP"], ["TEMPORARY"]) and words[2:3] == ["TRIGGER"]))
    if trigger and markers:
        raise unsupported("a trigger that reads the clock or random() (each node would "
                          "compute its own value)")
    names: tuple[str, ...] = ()
    if any(isinstance(k, str) for k in keys):
        if not all(isinstance(k, str) for k in keys):
            raise SqlError(sqlstate.SYNTAX_ERROR, "mixed named and positional parameters")
        names = tuple(dict.fromkeys(k for k in keys if isinstance(k, str)))
        order = tuple(names.index(k) for k in keys if isinstance(k, str))
    else:
        order = tuple(k for k in keys if isinstance(k, int))
    fix_ddl = kind is StatementKind.DDL and words[1:2] == ["TABLE"] and _as_select(tokens)
    returns_rows = kind is StatementKind.READ or "RETURNING" in {
        t.upper() for k, t in tokens if k == "word"}
    t = Translated(
        kind=kind, sql=rewritten.strip(), param_order=order,
        nparams=(max(order) + 1) if order else 0, command_tag=tag, returns_rows=returns_rows,
        needs_fixing=markers and (kind is not StatementKind.DDL or fix_ddl), original=text,
        table=table,
        insert_columns=insert_columns, insert_width=None,
        trigger_inserts=_trigger_inserts(tokens) if trigger else (),
    )
    return SqliteStatement(t, names)
