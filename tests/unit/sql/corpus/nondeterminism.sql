-- Nondeterministic calls are marked ('fix'); the leader's fix_nondeterminism replaces them.
SELECT now();
-- expect: READ SELECT rows fix | SELECT pg_now()
SELECT CURRENT_TIMESTAMP;
-- expect: READ SELECT rows fix | SELECT pg_now()
SELECT CURRENT_DATE;
-- expect: READ SELECT rows fix | SELECT pg_current_date()
SELECT CURRENT_TIME;
-- expect: READ SELECT rows fix | SELECT pg_current_time()
SELECT LOCALTIMESTAMP;
-- expect: READ SELECT rows fix | SELECT pg_localtimestamp()
SELECT clock_timestamp();
-- expect: READ SELECT rows fix | SELECT pg_now()
SELECT statement_timestamp(), transaction_timestamp();
-- expect: READ SELECT rows fix | SELECT pg_now(), pg_now()
SELECT random();
-- expect: READ SELECT rows fix | SELECT pg_random()
SELECT gen_random_uuid();
-- expect: READ SELECT rows fix | SELECT pg_gen_random_uuid()
SELECT now() + interval '1 hour';
-- expect: READ SELECT rows fix | SELECT PG_INTERVAL_ADD(pg_now(), '1 hour', 1)
SELECT date_trunc('day', now());
-- expect: READ SELECT rows fix | SELECT PG_DATE_TRUNC('day', pg_now())
SELECT extract(year FROM now());
-- expect: READ SELECT rows fix | SELECT PG_EXTRACT('year', pg_now())
INSERT INTO t (a, at) VALUES (1, now());
-- expect: WRITE INSERT fix | INSERT INTO t (a, at) VALUES (1, pg_now())
INSERT INTO t (id, a) VALUES (gen_random_uuid(), 1);
-- expect: WRITE INSERT fix | INSERT INTO t (id, a) VALUES (pg_gen_random_uuid(), 1)
INSERT INTO t (a) VALUES (random());
-- expect: WRITE INSERT fix | INSERT INTO t (a) VALUES (pg_random())
INSERT INTO t (a) VALUES ((random() * 100)::int);
-- expect: WRITE INSERT fix | INSERT INTO t (a) VALUES (PG_CAST_INT((pg_random() * 100), 'integer'))
UPDATE t SET touched = now() WHERE id = $1;
-- expect: WRITE UPDATE params=1 fix | UPDATE t SET touched = pg_now() WHERE id = ?
UPDATE t SET touched = CURRENT_TIMESTAMP, v = random();
-- expect: WRITE UPDATE fix | UPDATE t SET touched = pg_now(), v = pg_random()
UPDATE t SET x = 1 WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 1);
-- expect: WRITE UPDATE fix | UPDATE t SET x = 1 WHERE id IN (SELECT id FROM t ORDER BY pg_random() NULLS LAST LIMIT 1)
DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 3);
-- expect: WRITE DELETE fix | DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY pg_random() NULLS LAST LIMIT 3)
DELETE FROM t WHERE created < now() - interval '30 days';
-- expect: WRITE DELETE fix | DELETE FROM t WHERE created < PG_INTERVAL_ADD(pg_now(), '30 days', -1)
INSERT INTO t (a) SELECT gen_random_uuid() FROM emp;
-- expect: WRITE INSERT fix | INSERT INTO t (a) SELECT pg_gen_random_uuid() FROM emp
SELECT * FROM emp ORDER BY random() LIMIT 1;
-- expect: READ SELECT rows fix | SELECT * FROM emp ORDER BY pg_random() NULLS LAST LIMIT 1
INSERT INTO t (a, b) VALUES ($1, now()) ON CONFLICT (a) DO UPDATE SET b = now();
-- expect: WRITE INSERT params=1 fix | INSERT INTO t (a, b) VALUES (?, pg_now()) ON CONFLICT(a) DO UPDATE SET b = pg_now()
CREATE TABLE log (at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP, id UUID DEFAULT gen_random_uuid());
-- expect: DDL CREATE TABLE nondeterministic_defaults=at,id | CREATE TABLE log (at TIMESTAMPTZ DEFAULT (PG_UNFIXED_DEFAULT('CURRENT_TIMESTAMP')), id UUID DEFAULT (PG_UNFIXED_DEFAULT('GEN_RANDOM_UUID()')))
CREATE TABLE snap AS SELECT now() AS taken;
-- expect: DDL SELECT fix | CREATE TABLE snap AS SELECT pg_now() AS taken
EXPLAIN SELECT now();
-- expect: READ EXPLAIN rows | EXPLAIN QUERY PLAN SELECT pg_now()
-- SQLite's own clock and random functions read the leader's fixed values too.
SELECT datetime('now');
-- expect: READ SELECT rows fix | SELECT DATETIME(pg_localtimestamp())
SELECT date('now', '-1 day'), time('now'), julianday('now');
-- expect: READ SELECT rows fix | SELECT DATE(pg_localtimestamp(), '-1 day'), TIME(pg_localtimestamp()), JULIANDAY(pg_localtimestamp())
SELECT strftime('%Y', 'now'), unixepoch();
-- expect: READ SELECT rows fix | SELECT STRFTIME('%Y', pg_localtimestamp()), UNIXEPOCH(pg_localtimestamp())
SELECT randomblob(16);
-- expect: READ SELECT rows fix | SELECT PG_RANDOMBLOB(16)
INSERT INTO t (b) VALUES (randomblob($1));
-- expect: WRITE INSERT params=1 fix | INSERT INTO t (b) VALUES (PG_RANDOMBLOB(?))
SELECT datetime('now', 'localtime');
-- error: 0A000 | the SQLite 'localtime' modifier (node timezone) is not supported
SELECT datetime(ts) FROM t;
-- expect: READ SELECT rows | SELECT DATETIME(ts) FROM t
SELECT now() - interval '1 day' - interval '1 hour';
-- expect: READ SELECT rows fix | SELECT PG_INTERVAL_ADD(PG_INTERVAL_ADD(pg_now(), '1 day', -1), '1 hour', -1)
