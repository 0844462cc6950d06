-- Date/time, json and PostgreSQL-vs-SQLite edge cases, compared against PostgreSQL 15.
SELECT extract(year FROM hired) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('year', hired) FROM emp ORDER BY id NULLS LAST
SELECT extract(month FROM hired), extract(day FROM hired) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('month', hired), PG_EXTRACT('day', hired) FROM emp ORDER BY id NULLS LAST
SELECT extract(hour FROM last_login), extract(minute FROM last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('hour', last_login), PG_EXTRACT('minute', last_login) FROM emp ORDER BY id NULLS LAST
SELECT extract(second FROM last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('second', last_login) FROM emp ORDER BY id NULLS LAST
SELECT extract(dow FROM hired), extract(doy FROM hired) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('dow', hired), PG_EXTRACT('doy', hired) FROM emp ORDER BY id NULLS LAST
SELECT extract(epoch FROM last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('epoch', last_login) FROM emp ORDER BY id NULLS LAST
SELECT extract(quarter FROM hired) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('quarter', hired) FROM emp ORDER BY id NULLS LAST
SELECT extract(year FROM '2024-02-29 10:00:00'::timestamp);
-- expect: READ SELECT rows | SELECT PG_EXTRACT('year', PG_CAST_TIMESTAMP('2024-02-29 10:00:00'))
SELECT date_trunc('month', last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('month', last_login) FROM emp ORDER BY id NULLS LAST
SELECT date_trunc('day', last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('day', last_login) FROM emp ORDER BY id NULLS LAST
SELECT date_trunc('hour', last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('hour', last_login) FROM emp ORDER BY id NULLS LAST
SELECT date_trunc('year', last_login) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('year', last_login) FROM emp ORDER BY id NULLS LAST
SELECT date_trunc('week', '2024-05-08 10:00:00'::timestamp);
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('week', PG_CAST_TIMESTAMP('2024-05-08 10:00:00'))
SELECT date_trunc('quarter', '2024-05-08 10:00:00'::timestamp);
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('quarter', PG_CAST_TIMESTAMP('2024-05-08 10:00:00'))
SELECT last_login + interval '1 day' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(last_login, '1 day', 1) FROM emp ORDER BY id NULLS LAST
SELECT last_login - interval '2 hours' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(last_login, '2 hours', -1) FROM emp ORDER BY id NULLS LAST
SELECT last_login + interval '1 month' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(last_login, '1 month', 1) FROM emp ORDER BY id NULLS LAST
SELECT '2024-01-31 00:00:00'::timestamp + interval '1 month';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-31 00:00:00'), '1 month', 1)
SELECT '2024-03-31 12:00:00'::timestamp - interval '1 month';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-03-31 12:00:00'), '1 month', -1)
SELECT '2024-01-01 00:00:00'::timestamp + interval '1 year 2 months 3 days';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-01 00:00:00'), '1 year 2 months 3 days', 1)
SELECT '2024-01-01 00:00:00'::timestamp + interval '90 minutes';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-01 00:00:00'), '90 minutes', 1)
SELECT '2024-01-01 00:00:00'::timestamp + interval '1 day 02:30:00';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-01 00:00:00'), '1 day 02:30:00', 1)
SELECT hired + interval '1 week' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(hired, '1 week', 1) FROM emp ORDER BY id NULLS LAST
SELECT name FROM emp WHERE last_login > '2024-05-01 00:00:00'::timestamp ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE last_login > PG_CAST_TIMESTAMP('2024-05-01 00:00:00') ORDER BY id NULLS LAST
SELECT name FROM emp WHERE hired >= '2020-01-01' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE hired >= '2020-01-01' ORDER BY id NULLS LAST
SELECT name FROM emp WHERE hired BETWEEN '2018-01-01' AND '2020-12-31' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE hired BETWEEN '2018-01-01' AND '2020-12-31' ORDER BY id NULLS LAST
SELECT min(hired), max(hired) FROM emp;
-- expect: READ SELECT rows | SELECT MIN(hired), MAX(hired) FROM emp
SELECT name FROM emp ORDER BY last_login DESC NULLS LAST, id;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY last_login DESC, id NULLS LAST
SELECT '2024-05-06 07:08:09.5+00'::timestamptz + interval '30 seconds';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_CAST_TIMESTAMPTZ('2024-05-06 07:08:09.5+00'), '30 seconds', 1)
SELECT date_trunc('minute', '2024-05-06 07:08:09.5+00'::timestamptz);
-- expect: READ SELECT rows | SELECT PG_DATE_TRUNC('minute', PG_CAST_TIMESTAMPTZ('2024-05-06 07:08:09.5+00'))
-- division and modulo
SELECT 1 / 0;
-- expect: READ SELECT rows | SELECT PG_DIV(1, 0)
SELECT 1 % 0;
-- expect: READ SELECT rows | SELECT PG_MOD(1, 0)
SELECT 1.5 / 0;
-- expect: READ SELECT rows | SELECT PG_DIV_EXACT(1.5, 0)
SELECT qty / 0 FROM item;
-- expect: READ SELECT rows | SELECT PG_DIV(qty, 0) FROM item
SELECT 10 / qty FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DIV(10, qty) FROM item ORDER BY id NULLS LAST
SELECT id FROM item WHERE qty > 0 AND 10 / qty > 1 ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM item WHERE qty > 0 AND PG_DIV(10, qty) > 1 ORDER BY id NULLS LAST
SELECT NULL / 0;
-- expect: READ SELECT rows | SELECT PG_DIV(NULL, 0)
SELECT 9 / 3, 10 / 4, 10.0 / 4, 10 / 4.0;
-- expect: READ SELECT rows | SELECT PG_DIV(9, 3), PG_DIV(10, 4), PG_DIV_EXACT(10.0, 4), PG_DIV_EXACT(10, 4.0)
-- invalid input
SELECT 'abc'::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('abc', 'integer')
SELECT ''::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('', 'integer')
SELECT '1.5'::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('1.5', 'integer')
SELECT 'x1'::numeric;
-- expect: READ SELECT rows | SELECT PG_CAST_NUMERIC('x1')
SELECT 'maybe'::boolean;
-- expect: READ SELECT rows | SELECT PG_CAST_BOOL('maybe')
SELECT '2024-13-45'::date;
-- expect: READ SELECT rows | SELECT PG_CAST_DATE('2024-13-45')
SELECT 'not a date'::timestamp;
-- expect: READ SELECT rows | SELECT PG_CAST_TIMESTAMP('not a date')
SELECT 'zzz'::uuid;
-- expect: READ SELECT rows | SELECT PG_CAST_UUID('zzz')
SELECT '{bad json'::jsonb;
-- expect: READ SELECT rows | SELECT PG_CAST_JSONB('{bad json')
SELECT 99999::smallint;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(99999, 'smallint')
SELECT 3000000000::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(3000000000, 'integer')
SELECT label::int FROM item WHERE id = 1;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(label, 'integer') FROM item WHERE id = 1
SELECT 'ab' LIKE 'ab\';
-- expect: READ SELECT rows | SELECT 'ab' LIKE 'ab\'
-- json
SELECT '{"a": 1}'::json;
-- expect: READ SELECT rows | SELECT PG_CAST_JSON('{"a": 1}')
SELECT '{"b": 2, "a": [1, 2]}'::jsonb;
-- expect: READ SELECT rows | SELECT PG_CAST_JSONB('{"b": 2, "a": [1, 2]}')
SELECT meta FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT meta FROM item ORDER BY id NULLS LAST
SELECT id FROM item WHERE meta IS NULL ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM item WHERE meta IS NULL ORDER BY id NULLS LAST
-- strings with escapes and dollar quotes
SELECT E'tab\there';
-- expect: READ SELECT rows | SELECT 'tab	here'
SELECT E'line1\nline2';
-- expect: READ SELECT rows | json:"SELECT 'line1\nline2'"
SELECT E'quote\'s';
-- expect: READ SELECT rows | SELECT 'quote''s'
SELECT E'\x41\102';
-- expect: READ SELECT rows | SELECT 'AB'
SELECT $$dollar 'quoted'$$;
-- expect: READ SELECT rows | SELECT 'dollar ''quoted'''
SELECT $tag$with $$ inside$tag$;
-- expect: READ SELECT rows | SELECT 'with $$ inside'
SELECT 'it''s';
-- expect: READ SELECT rows | SELECT 'it''s'
SELECT U&'d\0061t\+000061';
-- expect: READ SELECT rows | SELECT 'data'
SELECT length(E'\u00e9');
-- expect: READ SELECT rows | SELECT LENGTH('é')
-- PostgreSQL string/json/date functions registered by functions.register, and typed arithmetic
SELECT meta #>> '{tags,1}' FROM item;
-- expect: READ SELECT rows | SELECT meta ->> '$."tags"[1]' FROM item
SELECT meta #> '{tags}' FROM item;
-- expect: READ SELECT rows | SELECT meta -> '$."tags"' FROM item
SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', 5);
-- expect: READ SELECT rows | SELECT SPLIT_PART('a,b,c', ',', 2), SPLIT_PART('a,b,c', ',', 5)
SELECT lpad('7', 3, '0'), rpad('a', 3, '-'), lpad('hello', 2), lpad('x', 4);
-- expect: READ SELECT rows | SELECT LPAD('7', 3, '0'), RPAD('a', 3, '-'), LPAD('hello', 2), LPAD('x', 4)
SELECT initcap('hello wORLD foo-bar');
-- expect: READ SELECT rows | SELECT INITCAP('hello wORLD foo-bar')
SELECT repeat('ab', 3), reverse('abc');
-- expect: READ SELECT rows | SELECT REPEAT('ab', 3), REVERSE('abc')
SELECT md5('abc');
-- expect: READ SELECT rows | SELECT MD5('abc')
SELECT regexp_replace('abcb', 'b', 'X'), regexp_replace('abcb', 'b', 'X', 'g'), regexp_replace('abc', '(b)', '[\1]');
-- expect: READ SELECT rows | SELECT REGEXP_REPLACE('abcb', 'b', 'X'), REGEXP_REPLACE('abcb', 'b', 'X', 'g'), REGEXP_REPLACE('abc', '(b)', '[\1]')
SELECT json_build_object('a', 1, 'b', 'x');
-- expect: READ SELECT rows | SELECT JSON_BUILD_OBJECT('a', 1, 'b', 'x')
SELECT jsonb_build_object('bb', 1, 'a', 'x');
-- expect: READ SELECT rows | SELECT JSONB_BUILD_OBJECT('bb', 1, 'a', 'x')
SELECT make_date(2024, 2, 29);
-- expect: READ SELECT rows | SELECT MAKE_DATE(2024, 2, 29)
SELECT 10::numeric / 4, 1::numeric / 4, 7 / 2.0, 7.5 / 2, avg(qty) / 2 FROM item;
-- expect: READ SELECT rows | SELECT PG_DIV_EXACT(PG_CAST_NUMERIC(10), 4), PG_DIV_EXACT(PG_CAST_NUMERIC(1), 4), PG_DIV_EXACT(7, 2.0), PG_DIV_EXACT(7.5, 2), PG_DIV_EXACT(AVG(qty), 2) FROM item
SELECT substr('hello', 2, 3), substr('hello', 0), substr('hello', -1, 3), substring('hello' from 3), substring('hello', 2);
-- expect: READ SELECT rows | SELECT PG_SUBSTR('hello', 2, 3), PG_SUBSTR('hello', 0), PG_SUBSTR('hello', -1, 3), PG_SUBSTR('hello', 3), PG_SUBSTR('hello', 2)
SELECT substr('hello', 2, -1);
-- expect: READ SELECT rows | SELECT PG_SUBSTR('hello', 2, -1)
SELECT '2024-01-01'::date - '2023-12-01'::date;
-- expect: READ SELECT rows | SELECT PG_DATE_ARITH(PG_CAST_DATE('2024-01-01'), PG_CAST_DATE('2023-12-01'), -1)
SELECT '2024-02-28'::date + 2, 3 + '2024-02-28'::date;
-- expect: READ SELECT rows | SELECT PG_DATE_ARITH(PG_CAST_DATE('2024-02-28'), 2, 1), PG_DATE_ARITH(3, PG_CAST_DATE('2024-02-28'), 1)
SELECT make_date(2024, 1, 31) + 1;
-- expect: READ SELECT rows | SELECT PG_DATE_ARITH(MAKE_DATE(2024, 1, 31), 1, 1)
SELECT '2024-01-01 10:00'::timestamp - 1;
-- expect: READ SELECT rows | SELECT PG_DATE_ARITH(PG_CAST_TIMESTAMP('2024-01-01 10:00'), 1, -1)
SELECT salary / 3 FROM emp WHERE id = 3;
-- expect: READ SELECT rows | SELECT PG_DIV(salary, 3) FROM emp WHERE id = 3
SELECT (salary * 1.0) / 3 FROM emp WHERE id = 4;
-- expect: READ SELECT rows | SELECT PG_DIV_EXACT((salary * 1.0), 3) FROM emp WHERE id = 4
SELECT meta->>'color' FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT meta ->> '$.color' FROM item ORDER BY id NULLS LAST
SELECT meta->'tags'->>0 FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT meta -> '$.tags' ->> '$[0]' FROM item ORDER BY id NULLS LAST
SELECT char_length('héllo'), strpos('hello', 'l');
-- expect: READ SELECT rows | SELECT LENGTH('héllo'), INSTR('hello', 'l')
SELECT mod(7, 3), sqrt(16), power(2, 3), sign(-3), trunc(2.7);
-- expect: READ SELECT rows | SELECT PG_MOD(7, 3), SQRT(16), POWER(2, 3), SIGN(-3), TRUNC(2.7)
SELECT round(2.5), round(-2.5), round(1.2345::numeric, 2);
-- expect: READ SELECT rows | SELECT ROUND(2.5), ROUND(-2.5), PG_ROUND(PG_CAST_NUMERIC(1.2345), 2)
SELECT count(*)::int FROM emp;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(COUNT(*), 'integer') FROM emp
SELECT coalesce(sum(qty), 0) FROM item WHERE false;
-- expect: READ SELECT rows | SELECT COALESCE(SUM(qty), 0) FROM item WHERE FALSE
SELECT hired = '2019-03-01' FROM emp WHERE id = 1;
-- expect: READ SELECT rows | SELECT hired = '2019-03-01' FROM emp WHERE id = 1
SELECT last_login > '2024-05-01' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT last_login > '2024-05-01' FROM emp ORDER BY id NULLS LAST
SELECT id, ntile(2) OVER (ORDER BY id), percent_rank() OVER (ORDER BY id) FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT id, NTILE(2) OVER (ORDER BY id NULLS LAST), PERCENT_RANK() OVER (ORDER BY id NULLS LAST) FROM item ORDER BY id NULLS LAST
-- round() with negative digits, ascii(), ::time, COLLATE "C"
SELECT round(123.456, -1), round(125, -1), round(-125, -1), round(1.25, 1), round(2.5), round(salary, -2) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_ROUND(123.456, -1), PG_ROUND(125, -1), PG_ROUND(-125, -1), PG_ROUND(1.25, 1), ROUND(2.5), PG_ROUND(salary, -2) FROM emp ORDER BY id NULLS LAST
SELECT ascii('A'), chr(66), ascii('');
-- expect: READ SELECT rows | SELECT ASCII('A'), CHAR(66), ASCII('')
SELECT last_login::date, last_login::time FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_DATE(last_login), PG_CAST_TIME(last_login) FROM emp ORDER BY id NULLS LAST
SELECT '10:30'::time, '23:59:59.5'::time;
-- expect: READ SELECT rows | SELECT PG_CAST_TIME('10:30'), PG_CAST_TIME('23:59:59.5')
SELECT 'a' < 'B', 'a' COLLATE "C" < 'B';
-- expect: READ SELECT rows | SELECT 'a' < 'B', 'a' < 'B'
SELECT name FROM emp ORDER BY name COLLATE "C";
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY name NULLS LAST
INSERT INTO dept VALUES ('ENG', 'x', 1, 1) ON CONFLICT (code) DO NOTHING;
-- expect: WRITE INSERT | INSERT INTO dept VALUES ('ENG', 'x', 1, 1) ON CONFLICT(code) DO NOTHING
-- nested typed arithmetic is rewritten children-first
SELECT (3)::numeric / 4 / round(price, 1) FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_DIV_EXACT(PG_DIV_EXACT(PG_CAST_NUMERIC((3)), 4), PG_ROUND(price, 1)) FROM item ORDER BY id NULLS LAST
SELECT '2024-01-01 00:00:00'::timestamp - interval '1 day' - interval '1 hour';
-- expect: READ SELECT rows | SELECT PG_INTERVAL_ADD(PG_INTERVAL_ADD(PG_CAST_TIMESTAMP('2024-01-01 00:00:00'), '1 day', -1), '1 hour', -1)
SELECT round(-0.15, 1), round(1.5 / (price * -2), 1) FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_ROUND(-0.15, 1), PG_ROUND(PG_DIV_EXACT(1.5, (price * -2)), 1) FROM item ORDER BY id NULLS LAST
SELECT round(7) / 2, avg(qty) / 2 FROM item;
-- expect: READ SELECT rows | SELECT PG_DIV_EXACT(ROUND(7), 2), PG_DIV_EXACT(AVG(qty), 2) FROM item
