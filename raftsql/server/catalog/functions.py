"""PostgreSQL's catalog functions, in Python, registered on the catalog's SQLite connection.

Why Python: their answers come from the recovered schema (`model.Schema`) and the session
(user, database, leadership), and each is a few lines. Outputs follow PostgreSQL 15's
ruleutils.c / format_type.c / misc functions; arrays are JSON text (tables.py).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

import apsw

from raftsql.server.catalog import tables as tb
from raftsql.server.catalog.model import PUBLIC_NSP, Schema, quote_ident
from raftsql.sql.errors import SqlError

VERSION_TEXT = ("PostgreSQL 15.6 (raftsql 0.1) on x86_64-pc-linux-gnu, compiled by raftsql, "
                "64-bit")

_FORMAT_NAMES = {
    16: "boolean", 17: "bytea", 18: '"char"', 19: "name", 20: "bigint", 21: "smallint",
    22: "int2vector", 23: "integer", 24: "regproc", 25: "text", 26: "oid", 30: "oidvector",
    114: "json", 700: "real", 701: "double precision", 705: "unknown", 1042: "bpchar",
    1043: "character varying", 1082: "date", 1083: "time without time zone",
    1114: "timestamp without time zone", 1184: "timestamp with time zone", 1186: "interval",
    1266: "time with time zone", 1700: "numeric", 2205: "regclass", 2206: "regtype",
    2950: "uuid", 3802: "jsonb", 2278: "void", 2249: "record", 869: "inet", 650: "cidr",
    1560: "bit", 1562: "bit varying", 4089: "regnamespace", 1033: "aclitem",
    194: "pg_node_tree", 28: "xid", 27: "tid",
}

# every spelling to_regtype()/::regtype accepts -> type OID
_TYPE_ALIASES = {
    "bool": 16, "boolean": 16, "int": 23, "integer": 23, "int4": 23, "int8": 20, "bigint": 20,
    "int2": 21, "smallint": 21, "float4": 700, "real": 700, "float8": 701,
    "double precision": 701, "varchar": 1043, "character varying": 1043, "char": 1042,
    "character": 1042, "bpchar": 1042, "decimal": 1700, "timestamp": 1114,
    "timestamp without time zone": 1114, "timestamptz": 1184,
    "timestamp with time zone": 1184, "time": 1083, "time without time zone": 1083,
    "timetz": 1266, "time with time zone": 1266, '"char"': 18,
}

# catalogs that have a pg_class row in PostgreSQL (OIDs from pg_class.dat and friends)
_SYSTEM_RELATIONS = {
    "pg_class": 1259, "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255,
    "pg_constraint": 2606, "pg_namespace": 2615, "pg_index": 2610, "pg_database": 1262,
    "pg_authid": 1260, "pg_description": 2609, "pg_attrdef": 2604, "pg_am": 2601,
    "pg_collation": 3456, "pg_trigger": 2620, "pg_rewrite": 2618, "pg_depend": 2608,
    "pg_inherits": 2611, "pg_sequence": 2224, "pg_tablespace": 1213, "pg_opclass": 2616,
}


# settings clients read with current_setting() (PostgreSQL 15 defaults as raftsql runs)
DEFAULT_SETTINGS = {
    "default_table_access_method": "heap", "jit": "off", "server_version": "15.6",
    "server_version_num": "150006", "server_encoding": "UTF8", "client_encoding": "UTF8",
    "standard_conforming_strings": "on", "datestyle": "ISO, MDY", "intervalstyle": "postgres",
    "timezone": "UTC", "integer_datetimes": "on", "search_path": '"$user", public',
    "max_identifier_length": "63", "transaction_isolation": "serializable",
    "default_transaction_isolation": "serializable", "lc_collate": "C.UTF-8",
    "lc_ctype": "C.UTF-8", "application_name": "", "is_superuser": "on",
}


class CatalogError(Exception):
    """Raised inside a registered function; becomes the statement's SqlError."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.error = SqlError(sqlstate, message)


def format_type(oid: int | None, typmod: int | None) -> str | None:
    """format_type(type_oid, typmod) (src/backend/utils/adt/format_type.c)."""
    if oid is None:
        return None
    oid = int(oid)
    mod = -1 if typmod is None else int(typmod)
    info = tb.TYPE_BY_OID.get(oid)
    if info is not None and info.element:
        inner = format_type(info.element, mod)
        return f"{inner}[]"
    name = _FORMAT_NAMES.get(oid)
    if name is None:
        return info.name if info is not None else "???"
    if oid in (1042, 1043) and mod >= 4:
        base = "character" if oid == 1042 else name
        return f"{base}({mod - 4})"
    if oid == 1042 and typmod is not None:
        return "character" if mod < 0 else name
    if oid == 1700 and mod >= 4:
        precision, scale = (mod - 4) >> 16, (mod - 4) & 0xFFFF
        return f"numeric({precision},{scale})"
    return name


class Functions:
    """The functions of one catalog build (schema + session facts)."""

    def __init__(self, schema: Schema, ctx: tb.Context, *, in_recovery: bool = False,
                 backend_pid: int = 0, settings: dict[str, str] | None = None) -> None:
        self.schema = schema
        self.ctx = ctx
        self.in_recovery = in_recovery
        self.backend_pid = backend_pid
        self.settings = settings or {}
        self.rel_by_oid = schema.by_oid()
        self.rel_by_name = {r.name: r.oid for r in schema.relations.values()}
        self.con_by_oid = {c.oid: c for c in schema.constraints}
        self.idx_by_oid = {i.oid: i for i in schema.indexes}

    # ------------------------------------------------------------------ registration

    def register(self, conn: apsw.Connection) -> None:
        scalars: dict[str, Callable[..., Any]] = {
            "regexp": _regexp, "__regexp_i": _regexp_i,
            "format_type": format_type, "pg_get_expr": self.pg_get_expr,
            "pg_get_indexdef": self.pg_get_indexdef,
            "pg_get_constraintdef": self.pg_get_constraintdef,
            "pg_get_viewdef": self.pg_get_viewdef,
            "pg_get_userbyid": self.pg_get_userbyid,
            "pg_get_serial_sequence": self.pg_get_serial_sequence,
            "pg_encoding_to_char": lambda n: "UTF8" if n == 6 else "SQL_ASCII",
            "version": lambda: VERSION_TEXT,
            "current_schema": lambda: "public",
            "current_schemas": lambda implicit=0: json.dumps(
                ["pg_catalog", "public"] if implicit else ["public"]),
            "current_database": lambda: self.ctx.database,
            "__current_user": lambda: self.ctx.user,
            "pg_is_in_recovery": lambda: int(self.in_recovery),
            "pg_backend_pid": lambda: self.backend_pid,
            "inet_server_addr": lambda: "127.0.0.1",
            "inet_server_port": lambda: None,
            "inet_client_addr": lambda: "127.0.0.1",
            "current_setting": self.current_setting,
            "set_config": lambda name, value, _local=0: value,
            "obj_description": lambda *_a: None,
            "col_description": lambda *_a: None,
            "shobj_description": lambda *_a: None,
            "pg_relation_is_publishable": lambda *_a: 0,
            "pg_partition_ancestors": lambda rel: rel,
            "pg_get_statisticsobjdef_columns": lambda *_a: None,
            "pg_get_triggerdef": lambda *_a: None,
            "pg_get_function_result": lambda *_a: None,
            "pg_get_function_arguments": lambda *_a: None,
            "pg_get_function_identity_arguments": lambda *_a: None,
            "pg_tablespace_location": lambda *_a: "",
            "pg_size_pretty": _size_pretty,
            "quote_ident": lambda s: None if s is None else quote_ident(str(s)),
            "array_to_string": _array_to_string,
            "array_upper": _array_upper, "array_lower": _array_lower,
            "array_length": _array_upper, "cardinality": _cardinality,
            "array_position": _array_position,
            "to_regtype": self.to_regtype, "to_regclass": self.to_regclass,
            "__regclass": self.regclass, "__regclass_name": self.regclass_name,
            "__regtype": self.regtype, "__regtype_name": lambda oid: format_type(oid, None),
            "__regnamespace": self.regnamespace, "__regnamespace_name": self.regnamespace_name,
            "__bool": _to_bool,
            "__as_array": _as_json_array,
        }
        for name in ("pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible",
                     "pg_collation_is_visible", "pg_opclass_is_visible"):
            scalars[name] = lambda _oid: 1
        for name in ("has_table_privilege", "has_schema_privilege", "has_database_privilege",
                     "has_column_privilege", "has_function_privilege",
                     "has_sequence_privilege", "has_any_column_privilege", "pg_has_role"):
            scalars[name] = lambda *_args: 1
        for name in ("pg_table_size", "pg_relation_size", "pg_total_relation_size",
                     "pg_indexes_size", "pg_database_size"):
            scalars[name] = lambda *_args: 0
        for name, fn in scalars.items():
            conn.create_scalar_function(name, fn, deterministic=True)

    # ------------------------------------------------------------------ ruleutils

    def pg_get_expr(self, expr: Any, _relid: Any = None, _pretty: Any = None) -> Any:
        return expr

    def pg_get_indexdef(self, oid: Any, column: Any = 0, _pretty: Any = None) -> str | None:
        idx = self.idx_by_oid.get(_int(oid))
        if idx is None:
            return None
        return idx.definition(int(column or 0))

    def pg_get_constraintdef(self, oid: Any, _pretty: Any = None) -> str | None:
        con = self.con_by_oid.get(_int(oid))
        return con.definition() if con is not None else None

    def pg_get_viewdef(self, rel: Any, _pretty: Any = None) -> str | None:
        oid = self.regclass(rel)
        found = self.rel_by_oid.get(oid) if oid is not None else None
        return " " + found.view_sql + ";" if found is not None and found.kind == "v" else None

    def pg_get_userbyid(self, oid: Any) -> str:
        oid = _int(oid)
        if oid == tb.SUPERUSER_OID:
            return self.ctx.user
        if oid == 6171:
            return "pg_database_owner"
        return f"unknown (OID={oid})"

    def pg_get_serial_sequence(self, table: Any, column: Any) -> str | None:
        name = _unqualify(str(table))
        rel = self.schema.relations.get(name)
        if rel is None:
            raise CatalogError("42P01", f'relation "{table}" does not exist')
        for col in rel.columns:
            if col.name == column and col.serial_seq:
                return f"public.{quote_ident(col.serial_seq)}"
        return None

    def current_setting(self, name: Any, missing_ok: Any = 0) -> str | None:
        key = str(name).lower()
        if key in self.settings:
            return self.settings[key]
        if key in DEFAULT_SETTINGS:
            return DEFAULT_SETTINGS[key]
        if missing_ok:
            return None
        raise CatalogError("42704", f'unrecognized configuration parameter "{name}"')

    # ------------------------------------------------------------------ reg* types

    def regclass(self, value: Any) -> int | None:
        """'name'::regclass / 16385::regclass as an OID (42P01 for an unknown name)."""
        if value is None:
            return None
        found = self._regclass(value)
        if found is None:
            raise CatalogError("42P01", f'relation "{value}" does not exist')
        return found

    def to_regclass(self, value: Any) -> int | None:
        return None if value is None else self._regclass(value)

    def _regclass(self, value: Any) -> int | None:
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
        name = _unqualify(str(value))
        if name in self.rel_by_name:
            return self.rel_by_name[name]
        return _SYSTEM_RELATIONS.get(name)

    def regclass_name(self, oid: Any) -> str | None:
        if oid is None:
            return None
        rel = self.rel_by_oid.get(_int(oid))
        if rel is not None:
            return quote_ident(rel.name)
        for name, sys_oid in _SYSTEM_RELATIONS.items():
            if sys_oid == _int(oid):
                return name
        return str(oid)

    def to_regtype(self, value: Any) -> int | None:
        if value is None:
            return None
        text = " ".join(str(value).strip().lower().split())
        text = text.removeprefix("pg_catalog.")
        if text.endswith("[]"):
            element = self.to_regtype(text[:-2])
            info = tb.TYPE_BY_OID.get(element) if element is not None else None
            return info.array if info is not None and info.array else None
        text = re.sub(r"\s*\(.*\)$", "", text)
        if text in _TYPE_ALIASES:
            return _TYPE_ALIASES[text]
        for t in tb.BUILTIN_TYPES:
            if t.name == text:
                return t.oid
        return None

    def regtype(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) or str(value).strip().isdigit():
            return int(value)
        found = self.to_regtype(value)
        if found is None:
            raise CatalogError("42704", f'type "{value}" does not exist')
        return found

    def regnamespace(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        names = {"pg_catalog": tb.PG_CATALOG_NSP, "public": PUBLIC_NSP,
                 "information_schema": tb.INFORMATION_SCHEMA_NSP}
        if str(value) not in names:
            raise CatalogError("42704", f'schema "{value}" does not exist')
        return names[str(value)]

    def regnamespace_name(self, oid: Any) -> str | None:
        names = {tb.PG_CATALOG_NSP: "pg_catalog", PUBLIC_NSP: "public",
                 tb.INFORMATION_SCHEMA_NSP: "information_schema"}
        return None if oid is None else names.get(_int(oid), str(oid))


# --------------------------------------------------------------------------- helpers

def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _unqualify(name: str) -> str:
    parts = re.findall(r'"((?:[^"]|"")*)"|([^.]+)', name)
    last = parts[-1] if parts else ("", name)
    return last[0].replace('""', '"') if last[0] else last[1].strip().lower()


@functools.lru_cache(maxsize=256)
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _regexp(pattern: Any, value: Any) -> int | None:
    """`value ~ pattern` (SQLite calls regexp(pattern, value) for `value REGEXP pattern`)."""
    if pattern is None or value is None:
        return None
    return int(_compile(str(pattern), 0).search(str(value)) is not None)


def _regexp_i(value: Any, pattern: Any) -> int | None:
    if pattern is None or value is None:
        return None
    return int(_compile(str(pattern), re.IGNORECASE).search(str(value)) is not None)


def _to_bool(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(bool(value))
    text = str(value).strip().lower()
    if text in ("t", "true", "yes", "on", "1", "y"):
        return 1
    if text in ("f", "false", "no", "off", "0", "n"):
        return 0
    raise CatalogError("22P02", f'invalid input syntax for type boolean: "{value}"')


def _as_json_array(value: Any) -> str | None:
    items = _array(value)
    return None if items is None else json.dumps(items)


def _array(value: Any) -> list[Any] | None:
    """A JSON array, or an int2vector/oidvector text ('1 2'), as a list."""
    if value is None:
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, str) and not value.startswith("["):
        return [int(v) for v in value.split()] if value.replace(" ", "").lstrip("-").isdigit() \
            else None
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            return None
        return items if isinstance(items, list) else None
    return None


def _array_to_string(value: Any, sep: Any, null: Any = None) -> str | None:
    items = _array(value)
    if items is None:
        return None
    out = [str(null) if v is None and null is not None else _text(v) for v in items
           if v is not None or null is not None]
    return str(sep).join(out)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def _array_upper(value: Any, dim: Any = 1) -> int | None:
    items = _array(value)
    return len(items) if items and dim == 1 else None


def _array_lower(value: Any, dim: Any = 1) -> int | None:
    items = _array(value)
    return 1 if items and dim == 1 else None


def _cardinality(value: Any) -> int | None:
    items = _array(value)
    return None if items is None else len(items)


def _array_position(value: Any, element: Any) -> int | None:
    items = _array(value)
    if items is None:
        return None
    for i, item in enumerate(items, start=1):
        if item == element:
            return i
    return None


def _size_pretty(size: Any) -> str | None:
    """pg_size_pretty (dbsize.c): bytes below 10 kB, then kB, MB, ... rounded half up."""
    if size is None:
        return None
    n = int(size)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 10 * 1024 or unit == "TB":
            return f"{n} {unit}"
        n = (n + 512) // 1024 if unit == "bytes" else (n + 512) // 1024
    return f"{n} PB"
