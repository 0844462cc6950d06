-- interval values (issue 5): stored as PostgreSQL's output text, ordered by span through the
-- pg_interval collation of interval columns; compared against PostgreSQL 15. Results are cast
-- to text so both sides print PostgreSQL's interval output (psycopg's timedelta would fold
-- months into days).
SELECT id, d::text AS txt FROM span ORDER BY d, id;
-- expect: READ SELECT rows | SELECT id, PG_CAST_TEXT(d) AS txt FROM span ORDER BY d NULLS LAST, id NULLS LAST
SELECT id FROM span ORDER BY d DESC NULLS LAST, id;
-- expect: READ SELECT rows | SELECT id FROM span ORDER BY d DESC, id NULLS LAST
SELECT id FROM span WHERE d > interval '1 day' ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM span WHERE d > PG_CAST_INTERVAL('1 day') COLLATE pg_interval ORDER BY id NULLS LAST
SELECT id FROM span WHERE d = '30 days' ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM span WHERE d = '30 days' ORDER BY id NULLS LAST
SELECT id FROM span WHERE d < '1 hour'::interval ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM span WHERE d < PG_CAST_INTERVAL('1 hour') COLLATE pg_interval ORDER BY id NULLS LAST
SELECT max(d)::text, min(d)::text FROM span;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(MAX(d)), PG_CAST_TEXT(MIN(d)) FROM span
SELECT count(DISTINCT d) FROM span;
-- expect: READ SELECT rows | SELECT COUNT(DISTINCT d) FROM span
SELECT (d + interval '1 hour')::text FROM span ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_INTERVAL_ADD(d, '1 hour', 1))) FROM span ORDER BY id NULLS LAST
SELECT (d - interval '2 days')::text FROM span ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_INTERVAL_ADD(d, '2 days', -1))) FROM span ORDER BY id NULLS LAST
SELECT at + d::interval FROM span ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(at, d, 1) FROM span ORDER BY id NULLS LAST
SELECT at - d::interval FROM span ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(at, d, -1) FROM span ORDER BY id NULLS LAST
SELECT (interval '1 day' + interval '2 hours')::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_INTERVAL_ADD(PG_CAST_INTERVAL('1 day') COLLATE pg_interval, '2 hours', 1)))
SELECT (interval '1 day' - interval '36 hours')::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_INTERVAL_ADD(PG_CAST_INTERVAL('1 day') COLLATE pg_interval, '36 hours', -1)))
SELECT ('1 year 18 months'::interval)::text, ('1.5 days'::interval)::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_CAST_INTERVAL('1 year 18 months') COLLATE pg_interval)), PG_CAST_TEXT((PG_CAST_INTERVAL('1.5 days') COLLATE pg_interval))
SELECT ('1.5 months'::interval)::text, ('@ 1 hour ago'::interval)::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_CAST_INTERVAL('1.5 months') COLLATE pg_interval)), PG_CAST_TEXT((PG_CAST_INTERVAL('@ 1 hour ago') COLLATE pg_interval))
SELECT ('2 weeks 3 days 90 minutes'::interval)::text, ('-00:00:01.5'::interval)::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_CAST_INTERVAL('2 weeks 3 days 90 minutes') COLLATE pg_interval)), PG_CAST_TEXT((PG_CAST_INTERVAL('-00:00:01.5') COLLATE pg_interval))
SELECT ('1 day 1 day'::interval)::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT((PG_CAST_INTERVAL('1 day 1 day') COLLATE pg_interval))
SELECT '1 mon'::interval = '30 days'::interval;
-- expect: READ SELECT rows | SELECT PG_CAST_INTERVAL('1 mon') COLLATE pg_interval = PG_CAST_INTERVAL('30 days') COLLATE pg_interval
SELECT '2024-01-31 00:00:00'::timestamp + '1 mon 1 day'::interval;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-31 00:00:00'), '1 mon 1 day', 1)
SELECT 'abc'::interval;
-- expect: READ SELECT rows | SELECT PG_CAST_INTERVAL('abc') COLLATE pg_interval
SELECT 5::interval;
-- expect: READ SELECT rows | SELECT PG_CAST_INTERVAL(5) COLLATE pg_interval
-- params: ["2 days 03:00:00"]
SELECT ($1::interval + interval '1 hour')::text;
-- expect: READ SELECT rows params=1 | SELECT PG_CAST_TEXT((PG_INTERVAL_ADD(PG_CAST_INTERVAL(?) COLLATE pg_interval, '1 hour', 1)))
-- params: ["1 mon"]
SELECT id FROM span WHERE d >= $1::interval ORDER BY id;
-- expect: READ SELECT rows params=1 | SELECT id FROM span WHERE d >= PG_CAST_INTERVAL(?) COLLATE pg_interval ORDER BY id NULLS LAST
