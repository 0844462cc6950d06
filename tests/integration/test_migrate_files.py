"""Migration file parsing (raftsql/migrate/files.py): names, up/down split, checksums.

Source of truth: the file format documented in docs/migrations.md (NNNN_name.sql, an optional
``-- migrate:up`` line, a ``-- migrate:down`` line splitting up and down).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from raftsql.migrate.files import MigrationFileError, load, parse

ROOT = Path(__file__).resolve().parents[2]


def test_up_and_down_sections(tmp_path: Path) -> None:
    p = tmp_path / "0007_add_things.sql"
    p.write_text("-- migrate:up\nCREATE TABLE a (x int);\n  --  MIGRATE:DOWN  \nDROP TABLE a;\n")
    m = parse(p)
    assert (m.version, m.name, m.label) == (7, "add_things", "0007_add_things")
    assert m.up == "CREATE TABLE a (x int);" and m.down == "DROP TABLE a;"
    assert m.checksum == hashlib.sha256(p.read_bytes()).hexdigest()


def test_without_down_section(tmp_path: Path) -> None:
    p = tmp_path / "1_x.sql"
    p.write_text("CREATE TABLE a (x int);\n-- migrate:downgrade is just a comment\n")
    assert parse(p).down is None


def test_checksum_covers_the_down_section(tmp_path: Path) -> None:
    p = tmp_path / "0001_a.sql"
    p.write_text("SELECT 1;\n-- migrate:down\nSELECT 2;\n")
    before = parse(p).checksum
    p.write_text("SELECT 1;\n-- migrate:down\nSELECT 3;\n")
    assert parse(p).checksum != before


@pytest.mark.parametrize("name", ["create_users.sql", "0001-create.sql", "0001_.sql"])
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationFileError):
        load(tmp_path)


def test_duplicate_versions_and_empty_up_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "1_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationFileError, match="version 1"):
        load(tmp_path)
    empty = tmp_path / "e"
    empty.mkdir()
    (empty / "0001_a.sql").write_text("-- migrate:up\n-- migrate:down\nDROP TABLE a;")
    with pytest.raises(MigrationFileError, match="empty"):
        load(empty)


def test_example_migrations_load_in_order() -> None:
    found = load(ROOT / "migrations")
    assert [m.label for m in found][:2] == ["0001_create_users", "0002_create_orders"]
    assert all(m.down for m in found)


def test_transaction_control_inside_a_migration_is_refused(tmp_path: Path) -> None:
    """A COMMIT inside would end the runner's transaction early (not all-or-nothing)."""
    p = tmp_path / "0001_a.sql"
    p.write_text("CREATE TABLE a (x int);\nCOMMIT;\nCREATE TABLE b (x int);\n")
    with pytest.raises(MigrationFileError, match="COMMIT"):
        parse(p)
    p.write_text("-- BEGIN is fine in a comment\nCREATE TABLE a (x int);\n"
                 "-- migrate:down\nBEGIN;\nDROP TABLE a;\n")
    with pytest.raises(MigrationFileError, match="BEGIN"):
        parse(p)


def test_case_end_and_strings_are_not_transaction_control(tmp_path: Path) -> None:
    p = tmp_path / "0001_a.sql"
    p.write_text("CREATE VIEW v AS SELECT CASE WHEN 1 = 1 THEN 'a'\nEND AS c;\n"
                 "INSERT INTO t VALUES ('\nCOMMIT;');\n")
    assert parse(p).up.startswith("CREATE VIEW")


def test_migrations_over_an_embedded_connection(tmp_path: Path) -> None:
    """The same runner over raftsql.connect(dialect="postgres"): the examples apply, the
    bookkeeping table records them, a failing migration leaves nothing behind."""
    import raftsql
    from raftsql import migrate
    from raftsql.migrate.embedded import DbapiTarget

    d = tmp_path / "m"
    d.mkdir()
    for name in ("0001_create_users.sql", "0002_create_orders.sql"):
        (d / name).write_bytes((ROOT / "migrations" / name).read_bytes())
    (d / "0003_broken.sql").write_text("CREATE TABLE x (a int);\nSELECT * FROM nope;\n")
    con = raftsql.connect(tmp_path / "db", dialect="postgres")
    try:
        target = DbapiTarget(con)
        lines: list[str] = []
        assert migrate.up(directory=d, target=target, to=2, out=lines.append) == [1, 2]
        assert "applied 0002_create_orders" in lines
        with pytest.raises(migrate.MigrationFailed):
            migrate.up(directory=d, target=target, out=lines.append)
        rows = con.execute("SELECT version FROM raftsql_migrations ORDER BY 1").fetchall()
        assert rows == [(1,), (2,)]
        with pytest.raises(raftsql.dbapi.ProgrammingError):
            con.execute("SELECT * FROM x")
        states = [r.state for r in migrate.status(directory=d, target=target)]
        assert states == ["applied", "applied", "pending"]
    finally:
        con.close()
