-- Casts to bytea and of array parameters (issue 5), compared against PostgreSQL 15.
-- bytea input (byteain): hex and escape formats; arrays as parameters travel as JSON text.
SELECT '\x0102ff'::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('\x0102ff')
SELECT '\x01 02'::bytea, ''::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('\x01 02'), PG_CAST_BYTEA('')
SELECT 'ab\000c\\'::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('ab\000c\\')
SELECT length('\xdeadbeef'::bytea);
-- expect: READ SELECT rows | SELECT LENGTH(PG_CAST_BYTEA('\xdeadbeef'))
SELECT '\xZZ'::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('\xZZ')
SELECT '\x123'::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('\x123')
SELECT 'a\9'::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA('a\9')
SELECT 5::bytea;
-- expect: READ SELECT rows | SELECT PG_CAST_BYTEA(5)
-- params: ["\\x00ff10"]
SELECT $1::bytea;
-- expect: READ SELECT rows params=1 | SELECT PG_CAST_BYTEA(?)
-- params: ["\\x00ff10"]
SELECT length($1::bytea);
-- expect: READ SELECT rows params=1 | SELECT LENGTH(PG_CAST_BYTEA(?))
-- params: [[1, 3, 5]]
SELECT $1::int[];
-- expect: READ SELECT rows params=1 json=1 | SELECT ?
-- params: [["ENG", "SAL"]]
SELECT $1::text[];
-- expect: READ SELECT rows params=1 json=1 | SELECT ?
-- params: [[1, 3, 5]]
SELECT name FROM emp WHERE id = ANY($1::int[]) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
-- params: [["ENG", "SAL"]]
SELECT name FROM emp WHERE dept = ANY($1::text[]) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE dept IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
-- params: [[2, 4]]
SELECT name FROM emp WHERE id <> ALL($1::integer[]) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE NOT id IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
SELECT 1 AS nothing, 2 AS value, 3 AS "Key", name AS names FROM emp AS nothing WHERE id = 1;
-- expect: READ SELECT rows | SELECT 1 AS "nothing", 2 AS value, 3 AS "Key", name AS names FROM emp AS "nothing" WHERE id = 1
