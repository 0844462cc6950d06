-- Parameterised statements: `-- params: [...]` gives the $n values (JSON), bound by psycopg's
-- RawCursor on PostgreSQL and by bind()/fix_nondeterminism on SQLite.
-- params: [3]
SELECT name FROM emp WHERE id = $1;
-- expect: READ SELECT rows params=1 | SELECT name FROM emp WHERE id = ?
-- params: ["ENG", 7000]
SELECT name FROM emp WHERE dept = $1 AND salary > $2 ORDER BY id;
-- expect: READ SELECT rows params=1,2 | SELECT name FROM emp WHERE dept = ? AND salary > ? ORDER BY id NULLS LAST
-- params: [7000, "ENG"]
SELECT name FROM emp WHERE dept = $2 AND salary > $1 ORDER BY id;
-- expect: READ SELECT rows params=2,1 | SELECT name FROM emp WHERE dept = ? AND salary > ? ORDER BY id NULLS LAST
-- params: [2, 1]
SELECT name FROM emp ORDER BY id LIMIT $1 OFFSET $2;
-- expect: READ SELECT rows params=1,2 | SELECT name FROM emp ORDER BY id NULLS LAST LIMIT ? OFFSET ?
-- params: [[1, 3, 5]]
SELECT name FROM emp WHERE id = ANY($1) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
-- params: [[1, 3, 5]]
SELECT name FROM emp WHERE id <> ALL($1) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE NOT id IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
-- params: [["ENG", "OPS"]]
SELECT name FROM emp WHERE dept = ANY($1) ORDER BY id;
-- expect: READ SELECT rows params=1 json=1 | SELECT name FROM emp WHERE dept IN (SELECT value FROM JSON_EACH(?)) ORDER BY id NULLS LAST
-- params: [[]]
SELECT count(*) FROM emp WHERE id = ANY($1);
-- expect: READ SELECT rows params=1 json=1 | SELECT COUNT(*) FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?))
-- params: [[2, 4], "dave"]
SELECT name FROM emp WHERE id = ANY($1) AND name <> $2 ORDER BY id;
-- expect: READ SELECT rows params=1,2 json=1 | SELECT name FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?)) AND name <> ? ORDER BY id NULLS LAST
-- params: ["a%"]
SELECT name FROM emp WHERE name ILIKE $1 ORDER BY id;
-- expect: READ SELECT rows params=1 | SELECT name FROM emp WHERE PG_ILIKE(name, ?) ORDER BY id NULLS LAST
-- params: ["%e%"]
SELECT name FROM emp WHERE name LIKE $1 ORDER BY id;
-- expect: READ SELECT rows params=1 | SELECT name FROM emp WHERE name LIKE ? ORDER BY id NULLS LAST
-- params: ["Zed", "OPS"]
INSERT INTO emp (name, dept) VALUES ($1,$2) RETURNING name, dept, active;
-- expect: WRITE INSERT rows params=1,2 | INSERT INTO emp (name, dept) VALUES (?, ?) RETURNING name, dept, active
-- params: ["Q1", "Quality", 10, 5]
INSERT INTO dept VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO UPDATE SET title = $2 RETURNING *;
-- expect: WRITE INSERT rows params=1,2,3,4,2 | INSERT INTO dept VALUES (?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET title = ? RETURNING *
-- params: ["ENG", "Eng!", 10, 5]
INSERT INTO dept VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO UPDATE SET title = $2 RETURNING *;
-- expect: WRITE INSERT rows params=1,2,3,4,2 | INSERT INTO dept VALUES (?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET title = ? RETURNING *
-- params: [100, 4]
UPDATE emp SET salary = salary + $1 WHERE id = $2 RETURNING id, salary;
-- expect: WRITE UPDATE rows params=1,2 | UPDATE emp SET salary = salary + ? WHERE id = ? RETURNING id, salary
-- params: [[1, 2]]
DELETE FROM item WHERE emp_id = ANY($1) RETURNING id;
-- expect: WRITE DELETE rows params=1 json=1 | DELETE FROM item WHERE emp_id IN (SELECT value FROM JSON_EACH(?)) RETURNING id
-- params: ["2024-01-01"]
SELECT name FROM emp WHERE hired > $1::date ORDER BY id;
-- expect: READ SELECT rows params=1 | SELECT name FROM emp WHERE hired > PG_CAST_DATE(?) ORDER BY id NULLS LAST
-- params: ["2024-05-01 00:00:00", "1 day"]
SELECT $1::timestamp + $2::interval;
-- expect: READ SELECT rows params=1,2 | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP(?), ?, 1)
-- params: ["abc"]
SELECT $1::int;
-- expect: READ SELECT rows params=1 | SELECT PG_CAST_INT(?, 'integer')
-- params: [1, 4]
SELECT n FROM generate_series($1::int, $2::int) AS g(n) ORDER BY n;
-- expect: READ SELECT rows params=1,1,2,2 | SELECT n FROM (WITH RECURSIVE _gs(v) AS (SELECT PG_CAST_INT(?, 'integer') WHERE PG_CAST_INT(?, 'integer') <= PG_CAST_INT(?, 'integer') UNION ALL SELECT v + (1) FROM _gs WHERE v + (1) <= PG_CAST_INT(?, 'integer')) SELECT v AS n FROM _gs) AS g ORDER BY n NULLS LAST
-- params: ["x", "y"]
SELECT * FROM (VALUES ($1, $2)) AS v(a, b);
-- expect: READ SELECT rows params=1,2 | SELECT * FROM (SELECT column1 AS a, column2 AS b FROM (VALUES (?, ?))) AS v
-- params: [2, 1]
WITH x AS (SELECT $1::int AS v) SELECT v + $2::int FROM x;
-- expect: READ SELECT rows params=1,2 | WITH x AS (SELECT PG_CAST_INT(?, 'integer') AS v) SELECT v + PG_CAST_INT(?, 'integer') FROM x
