-- $n parameters: '?' in order, param_order maps each '?' to its $n (1-based in describe()).
SELECT $1;
-- expect: READ SELECT rows params=1 | SELECT ?
SELECT $1, $2, $3;
-- expect: READ SELECT rows params=1,2,3 | SELECT ?, ?, ?
SELECT $2, $1;
-- expect: READ SELECT rows params=2,1 | SELECT ?, ?
SELECT $1, $1, $2;
-- expect: READ SELECT rows params=1,1,2 | SELECT ?, ?, ?
SELECT $1::int + $2::int;
-- expect: READ SELECT rows params=1,2 | SELECT PG_CAST_INT(?, 'integer') + PG_CAST_INT(?, 'integer')
SELECT * FROM emp WHERE id = $1;
-- expect: READ SELECT rows params=1 | SELECT * FROM emp WHERE id = ?
SELECT * FROM emp WHERE id = $1 AND name = $2;
-- expect: READ SELECT rows params=1,2 | SELECT * FROM emp WHERE id = ? AND name = ?
SELECT * FROM emp WHERE name = $2 AND id = $1;
-- expect: READ SELECT rows params=2,1 | SELECT * FROM emp WHERE name = ? AND id = ?
SELECT * FROM emp LIMIT $1;
-- expect: READ SELECT rows params=1 | SELECT * FROM emp LIMIT ?
SELECT * FROM emp ORDER BY id LIMIT $1 OFFSET $2;
-- expect: READ SELECT rows params=1,2 | SELECT * FROM emp ORDER BY id NULLS LAST LIMIT ? OFFSET ?
SELECT * FROM emp WHERE id = ANY($1);
-- expect: READ SELECT rows params=1 json=1 | SELECT * FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?))
SELECT * FROM emp WHERE id = ANY ($1) AND name = $2;
-- expect: READ SELECT rows params=1,2 json=1 | SELECT * FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?)) AND name = ?
SELECT * FROM emp WHERE id <> ALL($1);
-- expect: READ SELECT rows params=1 json=1 | SELECT * FROM emp WHERE NOT id IN (SELECT value FROM JSON_EACH(?))
SELECT * FROM emp WHERE id = ANY($1::int[]);
-- expect: READ SELECT rows params=1 json=1 | SELECT * FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?))
SELECT * FROM emp WHERE name LIKE $1 || '%';
-- expect: READ SELECT rows params=1 | SELECT * FROM emp WHERE name LIKE ? || '%'
SELECT * FROM emp WHERE name ILIKE $1;
-- expect: READ SELECT rows params=1 | SELECT * FROM emp WHERE PG_ILIKE(name, ?)
SELECT '$1', $1;
-- expect: READ SELECT rows params=1 | SELECT '$1', ?
SELECT "$1" FROM t;
-- expect: READ SELECT rows | SELECT "$1" FROM t
SELECT $1 -- $2 comment
;
-- expect: READ SELECT rows params=1 | SELECT ?
SELECT $1 /* $2 */, $3;
-- expect: READ SELECT rows params=1,3 | SELECT ?, ?
SELECT $$ $1 $$, $1;
-- expect: READ SELECT rows params=1 | SELECT ' $1 ', ?
INSERT INTO emp VALUES ($1,$2);
-- expect: WRITE INSERT params=1,2 | INSERT INTO emp VALUES (?, ?)
INSERT INTO emp (name, dept) VALUES ($1,$2),($3,$4);
-- expect: WRITE INSERT params=1,2,3,4 | INSERT INTO emp (name, dept) VALUES (?, ?), (?, ?)
INSERT INTO emp (name) VALUES ($1) RETURNING id;
-- expect: WRITE INSERT rows params=1 | INSERT INTO emp (name) VALUES (?) RETURNING id
INSERT INTO dept VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO UPDATE SET title = $2;
-- expect: WRITE INSERT params=1,2,3,4,2 | INSERT INTO dept VALUES (?, ?, ?, ?) ON CONFLICT(code) DO UPDATE SET title = ?
UPDATE emp SET salary = $1 WHERE id = $2;
-- expect: WRITE UPDATE params=1,2 | UPDATE emp SET salary = ? WHERE id = ?
UPDATE emp SET salary = salary + $2 WHERE id = $1 RETURNING salary;
-- expect: WRITE UPDATE rows params=2,1 | UPDATE emp SET salary = salary + ? WHERE id = ? RETURNING salary
DELETE FROM emp WHERE id = $1;
-- expect: WRITE DELETE params=1 | DELETE FROM emp WHERE id = ?
DELETE FROM emp WHERE id = ANY($1) RETURNING id;
-- expect: WRITE DELETE rows params=1 json=1 | DELETE FROM emp WHERE id IN (SELECT value FROM JSON_EACH(?)) RETURNING id
SELECT $1::timestamp + $2::interval;
-- expect: READ SELECT rows params=1,2 | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP(?), ?, 1)
SELECT $1::date - interval '1 day';
-- expect: READ SELECT rows params=1 | SELECT PG_INTERVAL_ADD(PG_CAST_DATE(?), '1 day', -1)
SELECT $10;
-- expect: READ SELECT rows params=10 | SELECT ?
SELECT coalesce($1, 'default');
-- expect: READ SELECT rows params=1 | SELECT COALESCE(?, 'default')
SELECT CASE WHEN $1 THEN 'y' ELSE 'n' END;
-- expect: READ SELECT rows params=1 | SELECT CASE WHEN ? THEN 'y' ELSE 'n' END
WITH x AS (SELECT $1 AS v) SELECT v, $2 FROM x;
-- expect: READ SELECT rows params=1,2 | WITH x AS (SELECT ? AS v) SELECT v, ? FROM x
SELECT * FROM (VALUES ($1, $2)) AS v(a, b);
-- expect: READ SELECT rows params=1,2 | SELECT * FROM (SELECT column1 AS a, column2 AS b FROM (VALUES (?, ?))) AS v
SELECT name FROM emp WHERE hired > $1::date;
-- expect: READ SELECT rows params=1 | SELECT name FROM emp WHERE hired > PG_CAST_DATE(?)
SELECT count(*) FROM emp WHERE dept = $1 GROUP BY dept HAVING count(*) > $2;
-- expect: READ SELECT rows params=1,2 | SELECT COUNT(*) FROM emp WHERE dept = ? GROUP BY dept HAVING COUNT(*) > ?
SELECT * FROM generate_series($1, $2) AS g(n);
-- expect: READ SELECT rows params=1,1,2,2 | SELECT * FROM (WITH RECURSIVE _gs(v) AS (SELECT ? WHERE ? <= ? UNION ALL SELECT v + (1) FROM _gs WHERE v + (1) <= ?) SELECT v AS n FROM _gs) AS g
EXPLAIN SELECT * FROM emp WHERE id = $1;
-- expect: READ EXPLAIN rows params=1 | EXPLAIN QUERY PLAN SELECT * FROM emp WHERE id = ?
