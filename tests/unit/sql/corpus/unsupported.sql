-- Forbidden statements (42501) and unsupported constructs (0A000): never silently wrong.
ATTACH DATABASE '/tmp/x.db' AS x;
-- error: 42501 | ATTACH is not allowed: it would make nodes diverge or touch node-local files
DETACH DATABASE x;
-- error: 42501 | DETACH is not allowed: it would make nodes diverge or touch node-local files
PRAGMA journal_mode = DELETE;
-- error: 42501 | PRAGMA is not allowed: it would make nodes diverge or touch node-local files
PRAGMA table_info(emp);
-- error: 42501 | PRAGMA is not allowed: it would make nodes diverge or touch node-local files
LOAD 'plugin';
-- error: 42501 | LOAD is not allowed: it would make nodes diverge or touch node-local files
SELECT load_extension('/tmp/evil.so');
-- error: 42501 | function load_extension() is not allowed
SELECT readfile('/etc/passwd');
-- error: 42501 | function readfile() is not allowed
SELECT writefile('/tmp/x', 'data');
-- error: 42501 | function writefile() is not allowed
COPY emp FROM STDIN;
-- error: 0A000 | COPY is not supported
COPY emp TO '/tmp/out.csv';
-- error: 0A000 | COPY is not supported
GRANT SELECT ON emp TO bob;
-- error: 0A000 | GRANT is not supported
REVOKE ALL ON emp FROM bob;
-- error: 0A000 | REVOKE is not supported
LOCK TABLE emp IN ACCESS EXCLUSIVE MODE;
-- error: 0A000 | LOCK TABLE is not supported
NOTIFY channel, 'payload';
-- error: 0A000 | NOTIFY is not supported
DO $$ BEGIN END $$;
-- error: 0A000 | DO is not supported
CALL proc();
-- error: 0A000 | CALL is not supported
PREPARE q AS SELECT 1;
-- error: 0A000 | PREPARE is not supported
EXECUTE q;
-- error: 0A000 | EXECUTE is not supported
DECLARE c CURSOR FOR SELECT 1;
-- error: 0A000 | DECLARE CURSOR is not supported
FETCH NEXT FROM c;
-- error: 0A000 | FETCH is not supported
CLOSE c;
-- error: 0A000 | CLOSE is not supported
CLUSTER emp;
-- error: 0A000 | CLUSTER is not supported
REINDEX TABLE emp;
-- error: 0A000 | REINDEX is not supported
CHECKPOINT;
-- error: 0A000 | CHECKPOINT is not supported
COMMENT ON TABLE emp IS 'x';
-- error: 0A000 | COMMENT is not supported
REFRESH MATERIALIZED VIEW mv;
-- error: 0A000 | REFRESH MATERIALIZED VIEW is not supported
MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE;
-- error: 0A000 | MERGE is not supported
SELECT ARRAY[1, 2, 3];
-- error: 0A000 | arrays (ARRAY[1, 2, 3]) is not supported
SELECT array_agg(name) FROM emp;
-- error: 0A000 | arrays (ARRAY_AGG(name)) is not supported
SELECT unnest(ARRAY[1, 2]);
-- error: 0A000 | arrays (UNNEST(ARRAY[1, 2])) is not supported
SELECT '{1,2}'::int[];
-- error: 0A000 | array type INT[] is not supported
SELECT interval '1 day';
-- expect: READ SELECT rows | SELECT PG_CAST_INTERVAL('1 day') COLLATE pg_interval
SELECT '1 day'::interval;
-- expect: READ SELECT rows | SELECT PG_CAST_INTERVAL('1 day') COLLATE pg_interval
SELECT name INTO newtable FROM emp;
-- error: 0A000 | SELECT INTO is not supported
WITH d AS (DELETE FROM emp RETURNING *) SELECT * FROM d;
-- error: 0A000 | data-modifying statement in WITH is not supported
WITH i AS (INSERT INTO dept (code, title) VALUES ('a', 'b') RETURNING *) SELECT * FROM i;
-- error: 0A000 | data-modifying statement in WITH is not supported
SELECT * FROM generate_series(1, 10, $1);
-- error: 0A000 | generate_series with a non-literal step is not supported
SELECT generate_series(1, 3);
-- error: 0A000 | generate_series outside FROM is not supported
SELECT * FROM other_schema.t;
-- error: 0A000 | schema 'other_schema' (only public exists) is not supported
SELECT * FROM otherdb.public.t;
-- error: 0A000 | cross-database reference otherdb.public.t is not supported
SELECT x::regclass FROM t;
-- error: 0A000 | cast to REGCLASS is not supported
SELECT 'a'::char(3);
-- error: 0A000 | cast to char(n) is not supported
SELECT x::money FROM t;
-- error: 0A000 | cast to MONEY is not supported
UPDATE emp SET name = DEFAULT;
-- error: 0A000 | UPDATE ... SET col = DEFAULT is not supported
INSERT INTO t VALUES (1, DEFAULT);
-- error: 0A000 | DEFAULT in VALUES without a column list is not supported
INSERT INTO t (a, b) VALUES (1, DEFAULT), (DEFAULT, 2);
-- error: 0A000 | DEFAULT in some but not all rows of a VALUES list is not supported
SELECT a = ALL(ARRAY[1]) FROM t;
-- error: 0A000 | = ALL / <> ANY is not supported
SELECT * FROM t WHERE a = ANY(b);
-- error: 0A000 | ANY/ALL over b is not supported
SELECT FROM;
-- error: 42601 | syntax error at or near "FROM"
SELEC 1;
-- error: 42601 | syntax error at or near "1"
SELECT 'unterminated;
-- error: 42601 | unterminated quoted string
SELECT "unterminated;
-- error: 42601 | unterminated quoted identifier
SELECT 1 /* unterminated;
-- error: 42601 | unterminated /* comment
SELECT $$unterminated;
-- error: 42601 | unterminated dollar-quoted string
SELECT $0;
-- error: 42P02 | there is no parameter $0
SELECT E'\u12';
-- error: 42601 | invalid Unicode escape
SELECT U&'x' UESCAPE '!';
-- error: 0A000 | UESCAPE is not supported
SELECT DISTINCT ON (dept) * FROM emp ORDER BY dept;
-- error: 0A000 | SELECT DISTINCT ON with * is not supported
SELECT DISTINCT ON (dept) dept, upper(name) FROM emp ORDER BY dept;
-- error: 0A000 | SELECT DISTINCT ON with an unnamed expression in the select list is not supported
SELECT 'abc' SIMILAR TO 'a%';
-- error: 0A000 | SIMILAR TO is not supported
SELECT id FROM item WHERE meta @> '{"n": 2}';
-- error: 0A000 | the @> operator is not supported
SELECT id FROM item WHERE meta ? 'color';
-- error: 0A000 | the ? operator is not supported
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY qty) FROM item;
-- error: 0A000 | WITHIN GROUP aggregates is not supported
SELECT meta #>> path FROM item;
-- error: 0A000 | #> / #>> with a non-literal path is not supported
INSERT INTO dept VALUES ('ENG', 'x', 1, 1) ON CONFLICT ON CONSTRAINT dept_pkey DO NOTHING;
-- error: 0A000 | ON CONFLICT ON CONSTRAINT (name the conflict columns instead) is not supported
SELECT name FROM emp ORDER BY name COLLATE "de_DE";
-- error: 0A000 | collation "de_DE" is not supported
SELECT string_agg(DISTINCT dept, ';') FROM emp;
-- error: 0A000 | string_agg(DISTINCT ..) with a separator other than ',' is not supported
