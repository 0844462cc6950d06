"""The emulated pg_catalog and information_schema tables: their columns (with PostgreSQL
types) and their rows, computed from a `model.Schema`.

Why these columns: they are the ones psql 15 (describe.c), SQLAlchemy 2 (postgresql/base.py),
psycopg 3 (_typeinfo.py), asyncpg (introspection.py) and pgbench read; names and types are
PostgreSQL 15's (`\\d pg_catalog.pg_class` etc.). Tables raftsql has nothing for (policies,
triggers, publications, inheritance ...) exist and are empty, so such queries return no rows,
as they would on a PostgreSQL database that has none.

Each column is declared in SQLite with the affinity of its PostgreSQL type (INTEGER for oid,
bool, int2/4/8), so SQLite compares values the PostgreSQL way: an oid column equals the text
'16385' that psql sends. Result types come from COLUMN_TYPES, not from SQLite. Arrays are
stored as JSON text, int2vector/oidvector as their PostgreSQL text ('1 2').
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from raftsql.pgwire import oids as o
from raftsql.server.catalog.model import PUBLIC_NSP, Relation, Schema

PG_CATALOG_NSP = 11
INFORMATION_SCHEMA_NSP = 13000
SUPERUSER_OID = 10
DATABASE_OID = 16383
DEFAULT_COLLATION = 100
BTREE_AM = 403
HEAP_AM = 2

_INTEGER = {"oid", "bool", "int2", "int4", "int8", "xid", "regproc"}
_REAL = {"float4", "float8"}

# typname of a column -> the OID the frontend reports: PostgreSQL's own. int2vector and
# oidvector values are kept in their text form ('1 2'), which psql prints and SQLAlchemy's
# psycopg dialect splits (postgresql/pg_catalog.py _SpaceVector).
TYPE_OIDS: dict[str, int] = {
    "oid": o.OID, "name": o.NAME, "bool": o.BOOL, "char": o.CHAR, "int2": o.INT2,
    "int4": o.INT4, "int8": o.INT8, "text": o.TEXT, "float4": o.FLOAT4, "float8": o.FLOAT8,
    "_text": o.TEXT_ARRAY, "_int2": o.INT2_ARRAY, "_oid": o.OID_ARRAY, "_char": o.CHAR_ARRAY,
    "_name": o.NAME_ARRAY, "_bool": o.BOOL_ARRAY, "int2vector": 22, "oidvector": 30, "_int4": o.INT4_ARRAY, "_int8": o.INT8_ARRAY,
    "timestamptz": o.TIMESTAMPTZ, "xid": o.INT4, "regproc": o.OID, "json": o.JSON,
    "varchar": o.VARCHAR, "numeric": o.NUMERIC,
}


def _cols(spec: str) -> list[tuple[str, str]]:
    out = []
    for item in spec.split():
        name, _, typ = item.partition(":")
        out.append((name, typ or "oid"))
    return out


# table -> "column:type ..." (':oid' may be left out)
TABLES: dict[str, str] = {
    "pg_namespace": "oid nspname:name nspowner nspacl:_text",
    "pg_class": (
        "oid relname:name relnamespace reltype reloftype relowner relam relfilenode reltablespace "
        "relpages:int4 reltuples:float4 relallvisible:int4 reltoastrelid relhasindex:bool "
        "relisshared:bool relpersistence:char relkind:char relnatts:int2 relchecks:int2 "
        "relhasrules:bool relhastriggers:bool relhassubclass:bool relrowsecurity:bool "
        "relforcerowsecurity:bool relispopulated:bool relreplident:char relispartition:bool "
        "relrewrite relfrozenxid:xid relminmxid:xid relacl:_text reloptions:_text "
        "relpartbound:text"),
    "pg_attribute": (
        "attrelid attname:name atttypid attstattarget:int4 attlen:int2 attnum:int2 attndims:int4 "
        "attcacheoff:int4 atttypmod:int4 attbyval:bool attalign:char attstorage:char "
        "attcompression:char attnotnull:bool atthasdef:bool atthasmissing:bool attidentity:char "
        "attgenerated:char attisdropped:bool attislocal:bool attinhcount:int4 attcollation "
        "attacl:_text attoptions:_text attfdwoptions:_text attmissingval:text"),
    "pg_type": (
        "oid typname:name typnamespace typowner typlen:int2 typbyval:bool typtype:char "
        "typcategory:char typispreferred:bool typisdefined:bool typdelim:char typrelid "
        "typsubscript:regproc typelem typarray typinput:regproc typoutput:regproc "
        "typreceive:regproc typsend:regproc typmodin:regproc typmodout:regproc "
        "typanalyze:regproc typalign:char typstorage:char typnotnull:bool typbasetype "
        "typtypmod:int4 typndims:int4 typcollation typdefaultbin:text typdefault:text "
        "typacl:_text"),
    "pg_index": (
        "indexrelid indrelid indnatts:int2 indnkeyatts:int2 indisunique:bool "
        "indnullsnotdistinct:bool indisprimary:bool indisexclusion:bool indimmediate:bool "
        "indisclustered:bool indisvalid:bool indcheckxmin:bool indisready:bool indislive:bool "
        "indisreplident:bool indkey:int2vector indcollation:oidvector indclass:oidvector indoption:int2vector "
        "indexprs:text indpred:text"),
    "pg_constraint": (
        "oid conname:name connamespace contype:char condeferrable:bool condeferred:bool "
        "convalidated:bool conrelid contypid conindid conparentid confrelid confupdtype:char "
        "confdeltype:char confmatchtype:char conislocal:bool coninhcount:int4 connoinherit:bool "
        "conkey:_int2 confkey:_int2 conpfeqop:_oid conppeqop:_oid conffeqop:_oid "
        "confdelsetcols:_int2 conexclop:_oid conbin:text"),
    "pg_attrdef": "oid adrelid adnum:int2 adbin:text",
    "pg_description": "objoid classoid objsubid:int4 description:text",
    "pg_shdescription": "objoid classoid description:text",
    "pg_database": (
        "oid datname:name datdba encoding:int4 datlocprovider:char datistemplate:bool "
        "datallowconn:bool datconnlimit:int4 datfrozenxid:xid datminmxid:xid dattablespace "
        "datcollate:text datctype:text daticulocale:text datcollversion:text datacl:_text"),
    "pg_roles": (
        "rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool "
        "rolcanlogin:bool rolreplication:bool rolconnlimit:int4 rolpassword:text "
        "rolvaliduntil:timestamptz rolbypassrls:bool rolconfig:_text oid"),
    "pg_authid": (
        "oid rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool "
        "rolcanlogin:bool rolreplication:bool rolbypassrls:bool rolconnlimit:int4 "
        "rolpassword:text rolvaliduntil:timestamptz"),
    "pg_user": (
        "usename:name usesysid usecreatedb:bool usesuper:bool userepl:bool usebypassrls:bool "
        "passwd:text valuntil:timestamptz useconfig:_text"),
    "pg_auth_members": "roleid member grantor admin_option:bool",
    "pg_am": "oid amname:name amhandler:regproc amtype:char",
    "pg_opclass": (
        "oid opcmethod opcname:name opcnamespace opcowner opcfamily opcintype opcdefault:bool "
        "opckeytype"),
    "pg_collation": (
        "oid collname:name collnamespace collowner collprovider:char collisdeterministic:bool "
        "collencoding:int4 collcollate:text collctype:text colliculocale:text collversion:text"),
    "pg_sequence": (
        "seqrelid seqtypid seqstart:int8 seqincrement:int8 seqmax:int8 seqmin:int8 "
        "seqcache:int8 seqcycle:bool"),
    "pg_tablespace": "oid spcname:name spcowner spcacl:_text spcoptions:_text",
    "pg_settings": (
        "name:text setting:text unit:text category:text short_desc:text extra_desc:text "
        "context:text vartype:text source:text min_val:text max_val:text enumvals:_text "
        "boot_val:text reset_val:text sourcefile:text sourceline:int4 pending_restart:bool"),
    "pg_proc": "oid proname:name pronamespace proowner prolang prokind:char prorettype",
    "pg_tables": (
        "schemaname:name tablename:name tableowner:name tablespace:name hasindexes:bool "
        "hasrules:bool hastriggers:bool rowsecurity:bool"),
    "pg_views": "schemaname:name viewname:name viewowner:name definition:text",
    "pg_indexes": "schemaname:name tablename:name indexname:name tablespace:name indexdef:text",
    "pg_matviews": (
        "schemaname:name matviewname:name matviewowner:name tablespace:name hasindexes:bool "
        "ispopulated:bool definition:text"),
    "pg_sequences": (
        "schemaname:name sequencename:name sequenceowner:name data_type:text "
        "start_value:int8 min_value:int8 max_value:int8 increment_by:int8 cycle:bool "
        "cache_size:int8 last_value:int8"),
    "pg_depend": "classid objid objsubid:int4 refclassid refobjid refobjsubid:int4 deptype:char",
    "pg_extension": (
        "oid extname:name extowner extnamespace extrelocatable:bool extversion:text "
        "extconfig:_oid extcondition:_text"),
    # always empty: raftsql has none of these objects
    "pg_policy": (
        "oid polname:name polrelid polcmd:char polpermissive:bool polroles:_oid polqual:text "
        "polwithcheck:text"),
    "pg_statistic_ext": (
        "oid stxrelid stxname:name stxnamespace stxowner stxstattarget:int4 stxkeys:_int2 "
        "stxkind:_char stxexprs:text"),
    "pg_publication": (
        "oid pubname:name pubowner puballtables:bool pubinsert:bool pubupdate:bool "
        "pubdelete:bool pubtruncate:bool pubviaroot:bool"),
    "pg_publication_rel": "oid prpubid prrelid prqual:text prattrs:_int2",
    "pg_publication_namespace": "oid pnpubid pnnspid",
    "pg_trigger": (
        "oid tgrelid tgparentid tgname:name tgfoid tgtype:int2 tgenabled:char "
        "tgisinternal:bool tgconstrrelid tgconstrindid tgconstraint tgdeferrable:bool "
        "tginitdeferred:bool tgnargs:int2 tgattr:_int2 tgargs:text tgqual:text "
        "tgoldtable:name tgnewtable:name"),
    "pg_inherits": "inhrelid inhparent inhseqno:int4 inhdetachpending:bool",
    "pg_partitioned_table": (
        "partrelid partstrat:char partnatts:int2 partdefid partattrs:_int2 partclass:_oid "
        "partcollation:_oid partexprs:text"),
    "pg_rewrite": (
        "oid rulename:name ev_class ev_type:char ev_enabled:char is_instead:bool "
        "ev_qual:text ev_action:text"),
    "pg_enum": "oid enumtypid enumsortorder:float4 enumlabel:name",
    "pg_range": "rngtypid rngsubtype rngmultitypid rngcollation rngsubopc rngcanonical:regproc "
                "rngsubdiff:regproc",
    "pg_foreign_table": "ftrelid ftserver ftoptions:_text",
    "pg_event_trigger": "oid evtname:name evtevent:name evtowner evtfoid evtenabled:char "
                        "evttags:_text",
}

INFORMATION_SCHEMA: dict[str, str] = {
    "tables": (
        "table_catalog:name table_schema:name table_name:name table_type:text "
        "self_referencing_column_name:name reference_generation:text "
        "user_defined_type_catalog:name user_defined_type_schema:name "
        "user_defined_type_name:name is_insertable_into:text is_typed:text commit_action:text"),
    "columns": (
        "table_catalog:name table_schema:name table_name:name column_name:name "
        "ordinal_position:int4 column_default:text is_nullable:text data_type:text "
        "character_maximum_length:int4 character_octet_length:int4 numeric_precision:int4 "
        "numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 "
        "udt_catalog:name udt_schema:name udt_name:name is_identity:text is_generated:text "
        "is_updatable:text"),
    "schemata": "catalog_name:name schema_name:name schema_owner:name",
    "views": (
        "table_catalog:name table_schema:name table_name:name view_definition:text "
        "check_option:text is_updatable:text is_insertable_into:text"),
    "table_constraints": (
        "constraint_catalog:name constraint_schema:name constraint_name:name "
        "table_catalog:name table_schema:name table_name:name constraint_type:text "
        "is_deferrable:text initially_deferred:text enforced:text nulls_distinct:text"),
    "key_column_usage": (
        "constraint_catalog:name constraint_schema:name constraint_name:name "
        "table_catalog:name table_schema:name table_name:name column_name:name "
        "ordinal_position:int4 position_in_unique_constraint:int4"),
}

ALWAYS_EMPTY = frozenset({
    "pg_policy", "pg_statistic_ext", "pg_publication", "pg_publication_rel",
    "pg_publication_namespace", "pg_trigger", "pg_inherits", "pg_partitioned_table", "pg_rewrite",
    "pg_enum", "pg_range", "pg_foreign_table", "pg_event_trigger", "pg_matviews",
    "pg_auth_members", "pg_extension",
})

COLUMNS: dict[str, list[tuple[str, str]]] = {k: _cols(v) for k, v in TABLES.items()}
INFO_COLUMNS: dict[str, list[tuple[str, str]]] = {k: _cols(v) for k, v in INFORMATION_SCHEMA.items()}

# column name -> typname over every table: catalog column names carry a table prefix, so a
# bare name identifies its type (used to type expressions that SQLite gives no decltype for)
COLUMN_TYPES: dict[str, str] = {}
for _cols_of in (*COLUMNS.values(), *INFO_COLUMNS.values()):
    for _name, _typ in _cols_of:
        COLUMN_TYPES.setdefault(_name, _typ)


def sqlite_decl(typname: str) -> str:
    """The SQLite affinity for a PostgreSQL column type (see the module docstring)."""
    return "INTEGER" if typname in _INTEGER else "REAL" if typname in _REAL else "TEXT"


def create_statements(schema_name: str, tables: dict[str, list[tuple[str, str]]]) -> list[str]:
    out = []
    for table, cols in tables.items():
        body = ", ".join(f'"{c}" {sqlite_decl(t)}' for c, t in cols)
        out.append(f'CREATE TABLE {schema_name}."{table}" ({body})')
    return out


# --------------------------------------------------------------------------- builtin types

@dataclass(frozen=True)
class BuiltinType:
    oid: int
    name: str
    length: int
    category: str
    array: int = 0
    element: int = 0
    collation: int = 0


_CATEGORY = {"bool": "B", "bytea": "U", "char": "Z", "name": "S", "int8": "N", "int2": "N",
             "int4": "N", "text": "S", "oid": "N", "json": "U", "float4": "N", "float8": "N",
             "unknown": "X", "bpchar": "S", "varchar": "S", "date": "D", "time": "D",
             "timestamp": "D", "timestamptz": "D", "interval": "T", "numeric": "N", "uuid": "U",
             "jsonb": "U"}
_EXTRA_TYPES = [  # (oid, name, len, category, array oid)
    (22, "int2vector", -1, "A", 1006), (24, "regproc", 4, "N", 1008), (30, "oidvector", -1, "A", 1013),
    (2205, "regclass", 4, "N", 2210), (2206, "regtype", 4, "N", 2211),
    (4089, "regnamespace", 4, "N", 4090), (2278, "void", 4, "P", 0), (2249, "record", -1, "P", 2287),
    (1033, "aclitem", 12, "U", 1034), (194, "pg_node_tree", -1, "Z", 0), (28, "xid", 4, "U", 1011),
    (27, "tid", 6, "U", 1010), (1560, "bit", -1, "V", 1561), (1562, "varbit", -1, "V", 1563),
    (869, "inet", -1, "I", 1041), (650, "cidr", -1, "I", 651), (1266, "timetz", 12, "D", 1270),
]


def builtin_types() -> list[BuiltinType]:
    out: list[BuiltinType] = []
    for info in o.TYPES.values():
        if info.element:
            continue
        coll = DEFAULT_COLLATION if info.name in ("text", "varchar", "bpchar", "name") else 0
        if info.name == "name":
            coll = 950  # "C"
        out.append(BuiltinType(info.oid, info.name, info.typlen, _CATEGORY.get(info.name, "U"),
                               info.array_oid, 0, coll))
    for oid, name, length, cat, arr in _EXTRA_TYPES:
        out.append(BuiltinType(oid, name, length, cat, arr))
    arrays = [BuiltinType(t.array, "_" + t.name, -1, "A", 0, t.oid, t.collation)
              for t in out if t.array]
    return out + arrays


BUILTIN_TYPES = builtin_types()
TYPE_BY_OID = {t.oid: t for t in BUILTIN_TYPES}


# --------------------------------------------------------------------------- rows

def _j(items: Iterable[Any]) -> str:
    return json.dumps(list(items))


def _vector(items: Iterable[int]) -> str:
    """int2vector/oidvector text form: '1 2'."""
    return " ".join(str(i) for i in items)


@dataclass
class Context:
    """Facts from the session: who is asking, which database."""

    user: str = "raftsql"
    database: str = "raftsql"
    settings: tuple[tuple[str, str], ...] = ()


def _row(table: str, **values: Any) -> tuple[Any, ...]:
    cols = COLUMNS[table]
    unknown = set(values) - {c for c, _ in cols}
    assert not unknown, (table, unknown)
    defaults = {"bool": 0, "oid": 0, "int2": 0, "int4": 0, "char": "", "float4": 0.0}
    return tuple(values.get(c, defaults.get(t)) for c, t in cols)


def _info_row(table: str, **values: Any) -> tuple[Any, ...]:
    return tuple(values.get(c) for c, _ in INFO_COLUMNS[table])


def _has_triggers(rel: Relation, schema: Schema) -> bool:
    """PostgreSQL enforces foreign keys with triggers on both tables; psql prints the
    "Foreign-key constraints" / "Referenced by" sections only when relhastriggers is set."""
    return any(c.contype == "f" and rel.name in (c.table, c.ref_table)
               for c in schema.constraints)


def _relation_row(rel: Relation, schema: Schema, ctx: Context) -> tuple[Any, ...]:
    checks = sum(1 for c in schema.constraints if c.table == rel.name and c.contype == "c")
    has_index = any(i.table == rel.name for i in schema.indexes)
    am = {"r": HEAP_AM, "i": BTREE_AM, "S": HEAP_AM}.get(rel.kind, 0)
    triggers = _has_triggers(rel, schema)
    return _row("pg_class", oid=rel.oid, relname=rel.name, relnamespace=PUBLIC_NSP,
                reltype=0, relowner=SUPERUSER_OID, relam=am, relfilenode=rel.oid,
                reltablespace=0, relpages=0, reltuples=-1.0, relhasindex=int(has_index),
                relpersistence="p", relkind=rel.kind, relnatts=len(rel.columns),
                relchecks=checks, relhasrules=int(rel.kind == "v"), relispopulated=1,
                relhastriggers=int(triggers),
                relreplident="d" if rel.kind == "r" else "n", relfrozenxid=0, relminmxid=0)


def rows(schema: Schema, ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog table's rows for `schema` (tables absent from the dict are empty)."""
    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in TABLES}
    rels = schema.relations
    out["pg_namespace"] = [
        _row("pg_namespace", oid=PG_CATALOG_NSP, nspname="pg_catalog", nspowner=SUPERUSER_OID),
        _row("pg_namespace", oid=PUBLIC_NSP, nspname="public", nspowner=6171),
        _row("pg_namespace", oid=INFORMATION_SCHEMA_NSP, nspname="information_schema",
             nspowner=SUPERUSER_OID),
    ]
    for rel in rels.values():
        out["pg_class"].append(_relation_row(rel, schema, ctx))
        for col in rel.columns:
            coll = DEFAULT_COLLATION if col.type_oid in (25, 1042, 1043) else 0
            info = TYPE_BY_OID.get(col.type_oid)
            out["pg_attribute"].append(_row(
                "pg_attribute", attrelid=rel.oid, attname=col.name, atttypid=col.type_oid,
                attstattarget=-1, attlen=info.length if info else -1, attnum=col.attnum,
                atttypmod=col.typmod, attnotnull=int(col.notnull),
                attstorage=_storage(col.type_oid),
                atthasdef=int(col.default is not None), attisdropped=0, attislocal=1,
                attcollation=coll, attidentity="", attgenerated="", attcacheoff=-1))
            if col.default is not None:
                out["pg_attrdef"].append(_row(
                    "pg_attrdef", oid=_attrdef_oid(rel.oid, col.attnum),
                    adrelid=rel.oid, adnum=col.attnum, adbin=col.default))
        if rel.kind == "S":
            out["pg_sequence"].append(_row(
                "pg_sequence", seqrelid=rel.oid, seqtypid=o.INT4, seqstart=1, seqincrement=1,
                seqmax=2**31 - 1, seqmin=1, seqcache=1, seqcycle=0))
            if rel.owned_by and rel.owned_by[0] in rels:
                table = rels[rel.owned_by[0]]
                attnum = next((c.attnum for c in table.columns if c.name == rel.owned_by[1]), 0)
                out["pg_depend"].append(_row("pg_depend", classid=1259, objid=rel.oid,
                                             objsubid=0, refclassid=1259, refobjid=table.oid,
                                             refobjsubid=attnum, deptype="a"))
        if rel.kind == "r":
            out["pg_tables"].append(_row(
                "pg_tables", schemaname="public", tablename=rel.name, tableowner=ctx.user,
                hasindexes=int(any(i.table == rel.name for i in schema.indexes)),
                hastriggers=int(_has_triggers(rel, schema))))
        if rel.kind == "v":
            out["pg_views"].append(_row("pg_views", schemaname="public", viewname=rel.name,
                                        viewowner=ctx.user, definition=" " + rel.view_sql + ";"))
    _index_rows(schema, out)
    _constraint_rows(schema, out)
    _static_rows(ctx, out)
    return out


def _storage(type_oid: int) -> str:
    """typstorage (pg_type.dat): plain for fixed-size types, main for numeric, else extended."""
    info = TYPE_BY_OID.get(type_oid)
    if info is None or info.length < 0:
        return "m" if type_oid == o.NUMERIC else "x"
    return "p"


def _attrdef_oid(reloid: int, attnum: int) -> int:
    return 2_000_000_000 + (reloid * 131 + attnum) % 100_000_000


# default btree operator class per column type (pg_opclass.dat)
_OPCLASS = {o.INT4: 1978, o.INT8: 3124, o.INT2: 1979, o.TEXT: 3126, o.VARCHAR: 3126,
            o.BPCHAR: 426, o.BOOL: 424, o.FLOAT8: 3123, o.FLOAT4: 1970, o.NUMERIC: 3125,
            o.DATE: 3122, o.TIMESTAMP: 3128, o.TIMESTAMPTZ: 3127, o.UUID: 2968, o.BYTEA: 421}


def _attnums(schema: Schema, table: str, cols: list[str]) -> list[int]:
    rel = schema.relations.get(table)
    nums = {c.name: c.attnum for c in rel.columns} if rel else {}
    return [nums.get(c, 0) for c in cols]


def _index_rows(schema: Schema, out: dict[str, list[tuple[Any, ...]]]) -> None:
    for idx in schema.indexes:
        table = schema.relations.get(idx.table)
        if table is None:
            continue
        by_name = {c.name: c for c in table.columns}
        for pos, name in enumerate(idx.columns, start=1):  # an index's own columns
            col = by_name.get(name)
            out["pg_attribute"].append(_row(
                "pg_attribute", attrelid=idx.oid, attname=name or "expr",
                atttypid=col.type_oid if col else o.TEXT, attnum=pos,
                atttypmod=col.typmod if col else -1, attstattarget=-1, attlen=-1,
                attcacheoff=-1, attislocal=1, attidentity="", attgenerated=""))
        keys = _attnums(schema, idx.table, idx.columns)
        types = {c.attnum: c.type_oid for c in table.columns}
        opclasses = [_OPCLASS.get(types.get(k, 0), 1978) for k in keys]
        out["pg_index"].append(_row(
            "pg_index", indexrelid=idx.oid, indrelid=table.oid, indnatts=len(keys),
            indnkeyatts=len(keys), indisunique=int(idx.unique), indisprimary=int(idx.primary),
            indimmediate=1, indisvalid=1, indisready=1, indislive=1, indkey=_vector(keys),
            indcollation=_vector(0 for _ in keys), indclass=_vector(opclasses),
            indoption=_vector(3 if d else 0 for d in idx.desc),
            indexprs=None if all(idx.columns) else "expr"))
        out["pg_indexes"].append(_row("pg_indexes", schemaname="public", tablename=idx.table,
                                      indexname=idx.name, indexdef=idx.definition()))


def _constraint_rows(schema: Schema, out: dict[str, list[tuple[Any, ...]]]) -> None:
    index_oids = {i.name: i.oid for i in schema.indexes}
    for con in schema.constraints:
        table = schema.relations.get(con.table)
        if table is None:
            continue
        ref = schema.relations.get(con.ref_table or "")
        conindid = index_oids.get(con.index or "", 0)
        if con.contype == "f" and ref is not None:  # the referenced key's index
            conindid = next((i.oid for i in schema.indexes if i.table == ref.name and i.unique
                             and i.columns == con.ref_columns), 0)
        actions = {"CASCADE": "c", "RESTRICT": "r", "SET NULL": "n", "SET DEFAULT": "d"}
        out["pg_constraint"].append(_row(
            "pg_constraint", oid=con.oid, conname=con.name, connamespace=PUBLIC_NSP,
            contype=con.contype, convalidated=1, conrelid=table.oid, conindid=conindid,
            confrelid=ref.oid if ref is not None else 0,
            confupdtype=actions.get(con.on_update, "a") if con.contype == "f" else " ",
            confdeltype=actions.get(con.on_delete, "a") if con.contype == "f" else " ",
            confmatchtype="s" if con.contype == "f" else " ", conislocal=1, connoinherit=0,
            conkey=_j(_attnums(schema, con.table, con.columns)),
            confkey=_j(_attnums(schema, ref.name, con.ref_columns)) if ref else None,
            conbin=con.check or None))


def _static_rows(ctx: Context, out: dict[str, list[tuple[Any, ...]]]) -> None:
    for t in BUILTIN_TYPES:
        out["pg_type"].append(_row(
            "pg_type", oid=t.oid, typname=t.name, typnamespace=PG_CATALOG_NSP,
            typowner=SUPERUSER_OID, typlen=t.length, typbyval=int(0 < t.length <= 8),
            typtype="p" if t.category == "P" else "b", typcategory=t.category,
            typisdefined=1, typdelim=",", typelem=t.element, typarray=t.array,
            typalign="i", typstorage=_storage(t.oid), typcollation=t.collation))
    out["pg_database"] = [_row(
        "pg_database", oid=DATABASE_OID, datname=ctx.database, datdba=SUPERUSER_OID, encoding=6,
        datlocprovider="c", datallowconn=1, datconnlimit=-1, dattablespace=1663,
        datcollate="C.UTF-8", datctype="C.UTF-8")]
    out["pg_roles"] = [_row(
        "pg_roles", rolname=ctx.user, rolsuper=1, rolinherit=1, rolcanlogin=1, rolconnlimit=-1,
        rolpassword="********", oid=SUPERUSER_OID)]
    out["pg_authid"] = [_row(
        "pg_authid", oid=SUPERUSER_OID, rolname=ctx.user, rolsuper=1, rolinherit=1,
        rolcanlogin=1, rolconnlimit=-1)]
    out["pg_user"] = [_row("pg_user", usename=ctx.user, usesysid=SUPERUSER_OID, usesuper=1,
                           passwd="********")]
    out["pg_am"] = [_row("pg_am", oid=HEAP_AM, amname="heap", amhandler=3, amtype="t"),
                    _row("pg_am", oid=BTREE_AM, amname="btree", amhandler=330, amtype="i"),
                    _row("pg_am", oid=405, amname="hash", amhandler=331, amtype="i")]
    out["pg_opclass"] = [_row("pg_opclass", oid=1978, opcmethod=BTREE_AM, opcname="int4_ops",
                              opcnamespace=PG_CATALOG_NSP, opcdefault=1, opcintype=o.INT4),
                         _row("pg_opclass", oid=3126, opcmethod=BTREE_AM, opcname="text_ops",
                              opcnamespace=PG_CATALOG_NSP, opcdefault=1, opcintype=o.TEXT)]
    out["pg_collation"] = [
        _row("pg_collation", oid=DEFAULT_COLLATION, collname="default",
             collnamespace=PG_CATALOG_NSP, collprovider="d", collisdeterministic=1,
             collencoding=-1),
        _row("pg_collation", oid=950, collname="C", collnamespace=PG_CATALOG_NSP,
             collprovider="c", collisdeterministic=1, collencoding=-1, collcollate="C",
             collctype="C"),
        _row("pg_collation", oid=951, collname="POSIX", collnamespace=PG_CATALOG_NSP,
             collprovider="c", collisdeterministic=1, collencoding=-1, collcollate="POSIX",
             collctype="POSIX")]
    out["pg_tablespace"] = [_row("pg_tablespace", oid=1663, spcname="pg_default",
                                 spcowner=SUPERUSER_OID),
                            _row("pg_tablespace", oid=1664, spcname="pg_global",
                                 spcowner=SUPERUSER_OID)]
    out["pg_settings"] = [_row("pg_settings", name=k, setting=v, vartype="string",
                               context="user", source="default", boot_val=v, reset_val=v,
                               pending_restart=0) for k, v in ctx.settings]


def information_schema_rows(schema: Schema, ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """information_schema views (SQL standard; PostgreSQL's information_schema.sql)."""
    from raftsql.server.catalog.functions import format_type

    out: dict[str, list[tuple[Any, ...]]] = {name: [] for name in INFORMATION_SCHEMA}
    db = ctx.database
    out["schemata"] = [_info_row("schemata", catalog_name=db, schema_name=s, schema_owner=ctx.user)
                       for s in ("information_schema", "pg_catalog", "public")]
    for rel in sorted(schema.relations.values(), key=lambda r: r.name):
        if rel.kind not in ("r", "v"):
            continue
        out["tables"].append(_info_row(
            "tables", table_catalog=db, table_schema="public", table_name=rel.name,
            table_type="BASE TABLE" if rel.kind == "r" else "VIEW",
            is_insertable_into="YES" if rel.kind == "r" else "NO", is_typed="NO"))
        if rel.kind == "v":
            out["views"].append(_info_row(
                "views", table_catalog=db, table_schema="public", table_name=rel.name,
                view_definition=rel.view_sql, check_option="NONE", is_updatable="NO",
                is_insertable_into="NO"))
        for col in rel.columns:
            info = TYPE_BY_OID.get(col.type_oid)
            prec = scale = length = None
            if col.type_oid in (1042, 1043) and col.typmod > 0:
                length = col.typmod - 4
            if col.type_oid == 1700 and col.typmod > 0:
                prec, scale = (col.typmod - 4) >> 16, (col.typmod - 4) & 0xFFFF
            elif col.type_oid in (21, 23, 20):
                prec, scale = {21: 16, 23: 32, 20: 64}[col.type_oid], 0
            out["columns"].append(_info_row(
                "columns", table_catalog=db, table_schema="public", table_name=rel.name,
                column_name=col.name, ordinal_position=col.attnum, column_default=col.default,
                is_nullable="NO" if col.notnull else "YES",
                data_type=format_type(col.type_oid, -1) or "text",
                character_maximum_length=length, numeric_precision=prec,
                numeric_precision_radix=(2 if col.type_oid in (21, 23, 20) else 10)
                if prec is not None else None,
                numeric_scale=scale, udt_catalog=db, udt_schema="pg_catalog",
                udt_name=info.name if info else "text", is_identity="NO", is_generated="NEVER",
                is_updatable="YES" if rel.kind == "r" else "NO"))
    kinds = {"p": "PRIMARY KEY", "u": "UNIQUE", "f": "FOREIGN KEY", "c": "CHECK"}
    for con in schema.constraints:
        out["table_constraints"].append(_info_row(
            "table_constraints", constraint_catalog=db, constraint_schema="public",
            constraint_name=con.name, table_catalog=db, table_schema="public",
            table_name=con.table, constraint_type=kinds[con.contype], is_deferrable="NO",
            initially_deferred="NO", enforced="YES",
            nulls_distinct="YES" if con.contype in "pu" else None))
        if con.contype in "puf":
            for i, column in enumerate(con.columns, start=1):
                out["key_column_usage"].append(_info_row(
                    "key_column_usage", constraint_catalog=db, constraint_schema="public",
                    constraint_name=con.name, table_catalog=db, table_schema="public",
                    table_name=con.table, column_name=column, ordinal_position=i,
                    position_in_unique_constraint=i if con.contype == "f" else None))
    return out
