-- Queries run on PostgreSQL 15 and on translated SQLite; results must agree.
-- Basic projection and filtering
SELECT 1;
-- expect: READ SELECT rows | SELECT 1
SELECT 1 + 2 * 3;
-- expect: READ SELECT rows | SELECT 1 + 2 * 3
SELECT 'hello' AS greeting;
-- expect: READ SELECT rows | SELECT 'hello' AS greeting
SELECT NULL;
-- expect: READ SELECT rows | SELECT NULL
SELECT true, false;
-- expect: READ SELECT rows | SELECT TRUE, FALSE
SELECT id, name FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT id, name FROM emp ORDER BY id NULLS LAST
SELECT * FROM dept ORDER BY code;
-- expect: READ SELECT rows | SELECT * FROM dept ORDER BY code NULLS LAST
SELECT name FROM emp WHERE dept = 'ENG' ORDER BY name;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept = 'ENG' ORDER BY name NULLS LAST
SELECT name FROM emp WHERE dept IS NULL;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept IS NULL
SELECT name FROM emp WHERE dept IS NOT NULL ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept IS NOT NULL ORDER BY id NULLS LAST
SELECT name FROM emp WHERE salary > 6000 ORDER BY salary DESC;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE salary > 6000 ORDER BY salary DESC NULLS FIRST
SELECT name FROM emp WHERE salary BETWEEN 5000 AND 7200 ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE salary BETWEEN 5000 AND 7200 ORDER BY id NULLS LAST
SELECT name FROM emp WHERE id IN (1, 3, 5) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE id IN (1, 3, 5) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE id NOT IN (1, 3, 5) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT id IN (1, 3, 5) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE active ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE active ORDER BY id NULLS LAST
SELECT name FROM emp WHERE NOT active;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT active
SELECT name FROM emp WHERE active = true AND dept = 'SAL' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE active = TRUE AND dept = 'SAL' ORDER BY id NULLS LAST
SELECT name FROM emp WHERE active IS TRUE ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE active IS TRUE ORDER BY id NULLS LAST
SELECT name FROM emp WHERE manager_id IS DISTINCT FROM 1 ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE manager_id IS NOT 1 ORDER BY id NULLS LAST
SELECT name FROM emp WHERE manager_id IS NOT DISTINCT FROM NULL ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE manager_id IS NULL ORDER BY id NULLS LAST
SELECT name, salary FROM emp ORDER BY salary NULLS FIRST, id;
-- expect: READ SELECT rows | SELECT name, salary FROM emp ORDER BY salary, id NULLS LAST
SELECT name, salary FROM emp ORDER BY salary DESC NULLS LAST, id;
-- expect: READ SELECT rows | SELECT name, salary FROM emp ORDER BY salary DESC, id NULLS LAST
SELECT name, salary FROM emp ORDER BY salary, id;
-- expect: READ SELECT rows | SELECT name, salary FROM emp ORDER BY salary NULLS LAST, id NULLS LAST
SELECT name, salary FROM emp ORDER BY salary DESC, id;
-- expect: READ SELECT rows | SELECT name, salary FROM emp ORDER BY salary DESC NULLS FIRST, id NULLS LAST
SELECT name FROM emp ORDER BY id LIMIT 3;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY id NULLS LAST LIMIT 3
SELECT name FROM emp ORDER BY id LIMIT 3 OFFSET 2;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY id NULLS LAST LIMIT 3 OFFSET 2
SELECT name FROM emp ORDER BY id OFFSET 5;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY id NULLS LAST LIMIT -1 OFFSET 5
SELECT name FROM emp ORDER BY id FETCH FIRST 2 ROWS ONLY;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY id NULLS LAST LIMIT 2
SELECT DISTINCT dept FROM emp;
-- expect: READ SELECT rows | SELECT DISTINCT dept FROM emp
SELECT DISTINCT dept, active FROM emp;
-- expect: READ SELECT rows | SELECT DISTINCT dept, active FROM emp
-- LIKE / ILIKE / regex
SELECT name FROM emp WHERE name LIKE 'A%';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE name LIKE 'A%'
SELECT name FROM emp WHERE name LIKE 'a%';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE name LIKE 'a%'
SELECT name FROM emp WHERE name ILIKE 'a%';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE PG_ILIKE(name, 'a%')
SELECT name FROM emp WHERE name NOT ILIKE '%e%' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT PG_ILIKE(name, '%e%') ORDER BY id NULLS LAST
SELECT name FROM emp WHERE email LIKE '%@example.com' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE email LIKE '%@example.com' ORDER BY id NULLS LAST
SELECT name FROM emp WHERE note LIKE '%\_1%';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE note LIKE '%\_1%'
SELECT name FROM emp WHERE note LIKE '%100\%';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE note LIKE '%100\%'
SELECT name FROM emp WHERE name LIKE '_ob';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE name LIKE '_ob'
SELECT name FROM emp WHERE name ~ '^[A-Z]' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE name REGEXP '^[A-Z]' ORDER BY id NULLS LAST
SELECT name FROM emp WHERE name ~* '^[a-c]' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE PG_REGEXP_I(name, '^[a-c]') ORDER BY id NULLS LAST
SELECT name FROM emp WHERE name !~ 'a' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT name REGEXP 'a' ORDER BY id NULLS LAST
SELECT 'abc' LIKE 'ABC', 'abc' ILIKE 'ABC';
-- expect: READ SELECT rows | SELECT 'abc' LIKE 'ABC', PG_ILIKE('abc', 'ABC')
-- expressions
SELECT 'a' || 'b' || 'c';
-- expect: READ SELECT rows | SELECT 'a' || 'b' || 'c'
SELECT name || ' <' || email || '>' FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name || ' <' || email || '>' FROM emp ORDER BY id NULLS LAST
SELECT COALESCE(note, 'none') FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT COALESCE(note, 'none') FROM emp ORDER BY id NULLS LAST
SELECT COALESCE(NULL, NULL, 3);
-- expect: READ SELECT rows | SELECT COALESCE(NULL, NULL, 3)
SELECT NULLIF(dept, 'ENG') FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT NULLIF(dept, 'ENG') FROM emp ORDER BY id NULLS LAST
SELECT CASE WHEN salary > 9000 THEN 'high' WHEN salary > 6000 THEN 'mid' ELSE 'low' END FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT CASE WHEN salary > 9000 THEN 'high' WHEN salary > 6000 THEN 'mid' ELSE 'low' END FROM emp ORDER BY id NULLS LAST
SELECT CASE dept WHEN 'ENG' THEN 1 WHEN 'SAL' THEN 2 END FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT CASE dept WHEN 'ENG' THEN 1 WHEN 'SAL' THEN 2 END FROM emp ORDER BY id NULLS LAST
SELECT 7 / 2, -7 / 2, 7 % 3, -7 % 3, 7.0 / 2;
-- expect: READ SELECT rows | SELECT PG_DIV(7, 2), PG_DIV(-7, 2), PG_MOD(7, 3), PG_MOD(-7, 3), PG_DIV_EXACT(7.0, 2)
SELECT 2 ^ 10;
-- expect: READ SELECT rows | SELECT POWER(2, 10)
SELECT abs(-5), round(2.567, 2), floor(2.7), ceil(2.1);
-- expect: READ SELECT rows | SELECT ABS(-5), PG_ROUND(2.567, 2), FLOOR(2.7), CEIL(2.1)
SELECT round(salary) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT ROUND(salary) FROM emp ORDER BY id NULLS LAST
SELECT salary * 2 FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT salary * 2 FROM emp ORDER BY id NULLS LAST
SELECT salary + bonus FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT salary + bonus FROM emp ORDER BY id NULLS LAST
SELECT qty * price FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT qty * price FROM item ORDER BY id NULLS LAST
SELECT -qty FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT -qty FROM item ORDER BY id NULLS LAST
SELECT length(name), upper(name), lower(name) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT LENGTH(name), UPPER(name), LOWER(name) FROM emp ORDER BY id NULLS LAST
SELECT upper('straße'), lower('ABC');
-- expect: READ SELECT rows | SELECT UPPER('straße'), LOWER('ABC')
SELECT substring(name from 2 for 3) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_SUBSTR(name, 2, 3) FROM emp ORDER BY id NULLS LAST
SELECT substring(name, 1, 2) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_SUBSTR(name, 1, 2) FROM emp ORDER BY id NULLS LAST
SELECT position('o' in name) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT INSTR(name, 'o') FROM emp ORDER BY id NULLS LAST
SELECT trim('  x  '), ltrim('xxa', 'x'), rtrim('axx', 'x');
-- expect: READ SELECT rows | SELECT TRIM('  x  '), LTRIM('xxa', 'x'), RTRIM('axx', 'x')
SELECT replace(email, '@example.com', '') FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT REPLACE(email, '@example.com', '') FROM emp ORDER BY id NULLS LAST
SELECT left(name, 2), right(name, 2) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_LEFT(name, 2), PG_RIGHT(name, 2) FROM emp ORDER BY id NULLS LAST
SELECT left('abc', -1), right('abc', -1);
-- expect: READ SELECT rows | SELECT PG_LEFT('abc', -1), PG_RIGHT('abc', -1)
SELECT concat('a', NULL, 'b', 1);
-- expect: READ SELECT rows | SELECT CONCAT('a', NULL, 'b', 1)
SELECT greatest(1, 5, 3), least(4, 2, 8);
-- expect: READ SELECT rows | SELECT MAX(COALESCE(1, 5, 3), COALESCE(5, 3, 1), COALESCE(3, 1, 5)), MIN(COALESCE(4, 2, 8), COALESCE(2, 8, 4), COALESCE(8, 4, 2))
SELECT greatest(salary, bonus) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT MAX(COALESCE(salary, bonus), COALESCE(bonus, salary)) FROM emp ORDER BY id NULLS LAST
-- casts
SELECT '42'::int, CAST('7' AS INTEGER), '3.5'::numeric, '2.5'::float8;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('42', 'integer'), PG_CAST_INT('7', 'integer'), PG_CAST_NUMERIC('3.5'), PG_CAST_FLOAT('2.5', 'double precision')
SELECT 3.7::int, 2.5::int, (-2.5)::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(3.7, 'integer'), PG_CAST_INT(2.5, 'integer'), PG_CAST_INT((-2.5), 'integer')
SELECT '1.005'::numeric(10,2), 12.345::numeric(5,1);
-- expect: READ SELECT rows | SELECT PG_CAST_NUMERIC('1.005', 2), PG_CAST_NUMERIC(12.345, 1)
SELECT 'true'::boolean, 'f'::boolean, 'yes'::boolean, 'off'::boolean;
-- expect: READ SELECT rows | SELECT PG_CAST_BOOL('true'), PG_CAST_BOOL('f'), PG_CAST_BOOL('yes'), PG_CAST_BOOL('off')
SELECT 1::boolean, 0::boolean;
-- expect: READ SELECT rows | SELECT PG_CAST_BOOL(1), PG_CAST_BOOL(0)
SELECT 42::text, 'x'::varchar(10), 'abcdef'::varchar(3);
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(42), PG_CAST_VARCHAR('x', 10), PG_CAST_VARCHAR('abcdef', 3)
SELECT 2.0::float8::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(PG_CAST_FLOAT(2.0, 'double precision'))
SELECT '2024-01-15'::date, '2024-01-15 10:20:30'::timestamp;
-- expect: READ SELECT rows | SELECT PG_CAST_DATE('2024-01-15'), PG_CAST_TIMESTAMP('2024-01-15 10:20:30')
SELECT '2024-01-15 10:20:30+02'::timestamptz;
-- expect: READ SELECT rows | SELECT PG_CAST_TIMESTAMPTZ('2024-01-15 10:20:30+02')
SELECT '  12  '::int;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('  12  ', 'integer')
SELECT id::text || '-' || name FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(id) || '-' || name FROM emp ORDER BY id NULLS LAST
SELECT salary::int FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(salary, 'integer') FROM emp ORDER BY id NULLS LAST
SELECT CAST(qty AS numeric(10,2)) FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_CAST_NUMERIC(qty, 2) FROM item ORDER BY id NULLS LAST
SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid;
-- expect: READ SELECT rows | SELECT PG_CAST_UUID('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')
-- aggregates
SELECT count(*) FROM emp;
-- expect: READ SELECT rows | SELECT COUNT(*) FROM emp
SELECT count(dept), count(DISTINCT dept) FROM emp;
-- expect: READ SELECT rows | SELECT COUNT(dept), COUNT(DISTINCT dept) FROM emp
SELECT sum(qty), min(qty), max(qty) FROM item;
-- expect: READ SELECT rows | SELECT SUM(qty), MIN(qty), MAX(qty) FROM item
SELECT sum(salary), max(salary), min(salary) FROM emp;
-- expect: READ SELECT rows | SELECT SUM(salary), MAX(salary), MIN(salary) FROM emp
SELECT avg(qty) FROM item;
-- expect: READ SELECT rows | SELECT AVG(qty) FROM item
SELECT dept, count(*) FROM emp GROUP BY dept;
-- expect: READ SELECT rows | SELECT dept, COUNT(*) FROM emp GROUP BY dept
SELECT dept, count(*) AS n FROM emp GROUP BY dept HAVING count(*) > 1 ORDER BY dept;
-- expect: READ SELECT rows | SELECT dept, COUNT(*) AS n FROM emp GROUP BY dept HAVING COUNT(*) > 1 ORDER BY dept NULLS LAST
SELECT dept, sum(salary) FROM emp WHERE dept IS NOT NULL GROUP BY dept ORDER BY 2 DESC;
-- expect: READ SELECT rows | SELECT dept, SUM(salary) FROM emp WHERE dept IS NOT NULL GROUP BY dept ORDER BY 2 DESC NULLS FIRST
SELECT count(*) FILTER (WHERE active) FROM emp;
-- expect: READ SELECT rows | SELECT COUNT(*) FILTER(WHERE active) FROM emp
SELECT string_agg(name, ',' ORDER BY name) FROM emp;
-- expect: READ SELECT rows | SELECT GROUP_CONCAT(name, ',' ORDER BY name NULLS LAST) FROM emp
SELECT dept, string_agg(name, ';' ORDER BY id) FROM emp GROUP BY dept ORDER BY dept;
-- expect: READ SELECT rows | SELECT dept, GROUP_CONCAT(name, ';' ORDER BY id NULLS LAST) FROM emp GROUP BY dept ORDER BY dept NULLS LAST
SELECT bool_and(active), bool_or(active) FROM emp;
-- expect: READ SELECT rows | SELECT MIN(active), MAX(active) FROM emp
SELECT count(*) FROM emp WHERE false;
-- expect: READ SELECT rows | SELECT COUNT(*) FROM emp WHERE FALSE
SELECT sum(qty) FROM item WHERE false;
-- expect: READ SELECT rows | SELECT SUM(qty) FROM item WHERE FALSE
-- joins
SELECT e.name, d.title FROM emp e JOIN dept d ON e.dept = d.code ORDER BY e.id;
-- expect: READ SELECT rows | SELECT e.name, d.title FROM emp AS e JOIN dept AS d ON e.dept = d.code ORDER BY e.id NULLS LAST
SELECT e.name, d.title FROM emp e LEFT JOIN dept d ON e.dept = d.code ORDER BY e.id;
-- expect: READ SELECT rows | SELECT e.name, d.title FROM emp AS e LEFT JOIN dept AS d ON e.dept = d.code ORDER BY e.id NULLS LAST
SELECT d.code, e.name FROM dept d LEFT JOIN emp e ON e.dept = d.code ORDER BY d.code, e.id;
-- expect: READ SELECT rows | SELECT d.code, e.name FROM dept AS d LEFT JOIN emp AS e ON e.dept = d.code ORDER BY d.code NULLS LAST, e.id NULLS LAST
SELECT e.name, m.name AS manager FROM emp e LEFT JOIN emp m ON e.manager_id = m.id ORDER BY e.id;
-- expect: READ SELECT rows | SELECT e.name, m.name AS manager FROM emp AS e LEFT JOIN emp AS m ON e.manager_id = m.id ORDER BY e.id NULLS LAST
SELECT e.name, i.label FROM emp e JOIN item i ON i.emp_id = e.id ORDER BY i.id;
-- expect: READ SELECT rows | SELECT e.name, i.label FROM emp AS e JOIN item AS i ON i.emp_id = e.id ORDER BY i.id NULLS LAST
SELECT e.name, d.title FROM emp e, dept d WHERE e.dept = d.code AND d.floor > 1 ORDER BY e.id;
-- expect: READ SELECT rows | SELECT e.name, d.title FROM emp AS e, dept AS d WHERE e.dept = d.code AND d.floor > 1 ORDER BY e.id NULLS LAST
SELECT count(*) FROM emp CROSS JOIN dept;
-- expect: READ SELECT rows | SELECT COUNT(*) FROM emp CROSS JOIN dept
SELECT e.name FROM emp e JOIN dept d USING (id) ORDER BY 1;
-- expect: READ SELECT rows | SELECT e.name FROM emp AS e JOIN dept AS d USING (id) ORDER BY 1 NULLS LAST
SELECT d.code, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept = d.code GROUP BY d.code ORDER BY d.code;
-- expect: READ SELECT rows | SELECT d.code, COUNT(e.id) FROM dept AS d LEFT JOIN emp AS e ON e.dept = d.code GROUP BY d.code ORDER BY d.code NULLS LAST
-- subqueries
SELECT name FROM emp WHERE salary > (SELECT avg(salary) FROM emp) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE salary > (SELECT AVG(salary) FROM emp) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE dept IN (SELECT code FROM dept WHERE floor >= 2) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept IN (SELECT code FROM dept WHERE floor >= 2) ORDER BY id NULLS LAST
SELECT name FROM emp e WHERE EXISTS (SELECT 1 FROM item i WHERE i.emp_id = e.id) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp AS e WHERE EXISTS(SELECT 1 FROM item AS i WHERE i.emp_id = e.id) ORDER BY id NULLS LAST
SELECT name FROM emp e WHERE NOT EXISTS (SELECT 1 FROM item i WHERE i.emp_id = e.id) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp AS e WHERE NOT EXISTS(SELECT 1 FROM item AS i WHERE i.emp_id = e.id) ORDER BY id NULLS LAST
SELECT name, (SELECT count(*) FROM item i WHERE i.emp_id = e.id) AS items FROM emp e ORDER BY id;
-- expect: READ SELECT rows | SELECT name, (SELECT COUNT(*) FROM item AS i WHERE i.emp_id = e.id) AS items FROM emp AS e ORDER BY id NULLS LAST
SELECT x.dept, x.total FROM (SELECT dept, sum(salary) AS total FROM emp GROUP BY dept) AS x WHERE x.total > 10000 ORDER BY x.dept;
-- expect: READ SELECT rows | SELECT x.dept, x.total FROM (SELECT dept, SUM(salary) AS total FROM emp GROUP BY dept) AS x WHERE x.total > 10000 ORDER BY x.dept NULLS LAST
-- CTEs and set operations
WITH eng AS (SELECT * FROM emp WHERE dept = 'ENG') SELECT name FROM eng ORDER BY id;
-- expect: READ SELECT rows | WITH eng AS (SELECT * FROM emp WHERE dept = 'ENG') SELECT name FROM eng ORDER BY id NULLS LAST
WITH RECURSIVE chain(id, name, depth) AS (SELECT id, name, 0 FROM emp WHERE manager_id IS NULL AND id = 1 UNION ALL SELECT e.id, e.name, c.depth + 1 FROM emp e JOIN chain c ON e.manager_id = c.id) SELECT name, depth FROM chain ORDER BY depth, name;
-- expect: READ SELECT rows | WITH RECURSIVE chain(id, name, depth) AS (SELECT id, name, 0 FROM emp WHERE manager_id IS NULL AND id = 1 UNION ALL SELECT e.id, e.name, c.depth + 1 FROM emp AS e JOIN chain AS c ON e.manager_id = c.id) SELECT name, depth FROM chain ORDER BY depth NULLS LAST, name NULLS LAST
WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b;
-- expect: READ SELECT rows | WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT * FROM b
SELECT code FROM dept UNION SELECT dept FROM emp WHERE dept IS NOT NULL;
-- expect: READ SELECT rows | SELECT code FROM dept UNION SELECT dept FROM emp WHERE dept IS NOT NULL
SELECT dept FROM emp UNION ALL SELECT code FROM dept;
-- expect: READ SELECT rows | SELECT dept FROM emp UNION ALL SELECT code FROM dept
SELECT code FROM dept EXCEPT SELECT dept FROM emp;
-- expect: READ SELECT rows | SELECT code FROM dept EXCEPT SELECT dept FROM emp
SELECT code FROM dept INTERSECT SELECT dept FROM emp;
-- expect: READ SELECT rows | SELECT code FROM dept INTERSECT SELECT dept FROM emp
SELECT name FROM emp WHERE id < 3 UNION SELECT title FROM dept ORDER BY 1;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE id < 3 UNION SELECT title FROM dept ORDER BY 1 NULLS LAST
-- VALUES and SELECT without FROM
VALUES (1, 'a'), (2, 'b');
-- expect: READ SELECT rows | VALUES (1, 'a'), (2, 'b')
SELECT * FROM (VALUES (1, 'one'), (2, 'two')) AS v(n, word) ORDER BY n;
-- expect: READ SELECT rows | SELECT * FROM (SELECT column1 AS n, column2 AS word FROM (VALUES (1, 'one'), (2, 'two'))) AS v ORDER BY n NULLS LAST
SELECT v.n * 10 FROM (VALUES (1), (2), (3)) AS v(n) ORDER BY 1;
-- expect: READ SELECT rows | SELECT v.n * 10 FROM (SELECT column1 AS n FROM (VALUES (1), (2), (3))) AS v ORDER BY 1 NULLS LAST
SELECT e.name, v.label FROM emp e JOIN (VALUES ('ENG', 'tech'), ('SAL', 'biz')) AS v(code, label) ON e.dept = v.code ORDER BY e.id;
-- expect: READ SELECT rows | SELECT e.name, v.label FROM emp AS e JOIN (SELECT column1 AS code, column2 AS label FROM (VALUES ('ENG', 'tech'), ('SAL', 'biz'))) AS v ON e.dept = v.code ORDER BY e.id NULLS LAST
-- window functions
SELECT name, row_number() OVER (ORDER BY id) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name, ROW_NUMBER() OVER (ORDER BY id NULLS LAST) FROM emp ORDER BY id NULLS LAST
SELECT name, rank() OVER (ORDER BY salary DESC) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name, RANK() OVER (ORDER BY salary DESC NULLS FIRST) FROM emp ORDER BY id NULLS LAST
SELECT name, dense_rank() OVER (ORDER BY salary DESC NULLS LAST) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name, DENSE_RANK() OVER (ORDER BY salary DESC) FROM emp ORDER BY id NULLS LAST
SELECT name, dept, row_number() OVER (PARTITION BY dept ORDER BY id) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name, dept, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY id NULLS LAST) FROM emp ORDER BY id NULLS LAST
SELECT name, sum(salary) OVER (PARTITION BY dept) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT name, SUM(salary) OVER (PARTITION BY dept) FROM emp ORDER BY id NULLS LAST
SELECT name, sum(qty) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM item i JOIN emp e ON e.id = i.emp_id ORDER BY i.id;
-- expect: READ SELECT rows | SELECT name, SUM(qty) OVER (ORDER BY id NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM item AS i JOIN emp AS e ON e.id = i.emp_id ORDER BY i.id NULLS LAST
SELECT id, lag(qty) OVER (ORDER BY id), lead(qty, 1, -1) OVER (ORDER BY id) FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT id, LAG(qty) OVER (ORDER BY id NULLS LAST), LEAD(qty, 1, -1) OVER (ORDER BY id NULLS LAST) FROM item ORDER BY id NULLS LAST
SELECT id, first_value(label) OVER (ORDER BY id), count(*) OVER () FROM item ORDER BY id;
-- expect: READ SELECT rows | SELECT id, FIRST_VALUE(label) OVER (ORDER BY id NULLS LAST), COUNT(*) OVER () FROM item ORDER BY id NULLS LAST
SELECT dept, name FROM (SELECT dept, name, row_number() OVER (PARTITION BY dept ORDER BY salary DESC) AS rn FROM emp) t WHERE rn = 1 ORDER BY dept NULLS FIRST;
-- expect: READ SELECT rows | SELECT dept, name FROM (SELECT dept, name, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY salary DESC NULLS FIRST) AS rn FROM emp) AS t WHERE rn = 1 ORDER BY dept
-- generate_series
SELECT * FROM generate_series(1, 5);
-- expect: READ SELECT rows | SELECT * FROM (WITH RECURSIVE _gs(v) AS (SELECT 1 WHERE 1 <= 5 UNION ALL SELECT v + (1) FROM _gs WHERE v + (1) <= 5) SELECT v AS generate_series FROM _gs) AS generate_series
SELECT g FROM generate_series(1, 10, 3) AS g ORDER BY g;
-- expect: READ SELECT rows | SELECT g FROM (WITH RECURSIVE _gs(v) AS (SELECT 1 WHERE 1 <= 10 UNION ALL SELECT v + (3) FROM _gs WHERE v + (3) <= 10) SELECT v AS g FROM _gs) AS g ORDER BY g NULLS LAST
SELECT n FROM generate_series(5, 1, -2) AS s(n) ORDER BY n;
-- expect: READ SELECT rows | SELECT n FROM (WITH RECURSIVE _gs(v) AS (SELECT 5 WHERE 5 >= 1 UNION ALL SELECT v + (-2) FROM _gs WHERE v + (-2) >= 1) SELECT v AS n FROM _gs) AS s ORDER BY n NULLS LAST
SELECT count(*) FROM generate_series(1, 0);
-- expect: READ SELECT rows | SELECT COUNT(*) FROM (WITH RECURSIVE _gs(v) AS (SELECT 1 WHERE 1 <= 0 UNION ALL SELECT v + (1) FROM _gs WHERE v + (1) <= 0) SELECT v AS generate_series FROM _gs) AS generate_series
SELECT sum(n) FROM generate_series(1, 100) AS t(n);
-- expect: READ SELECT rows | SELECT SUM(n) FROM (WITH RECURSIVE _gs(v) AS (SELECT 1 WHERE 1 <= 100 UNION ALL SELECT v + (1) FROM _gs WHERE v + (1) <= 100) SELECT v AS n FROM _gs) AS t
-- = ANY with arrays
SELECT name FROM emp WHERE id = ANY(ARRAY[2, 4]) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE id IN (2, 4) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE id <> ALL(ARRAY[2, 4]) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT id IN (2, 4) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE dept = ANY(SELECT code FROM dept WHERE floor = 3) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept IN (SELECT code FROM dept WHERE floor = 3) ORDER BY id NULLS LAST
-- DISTINCT ON (rewritten with ROW_NUMBER)
SELECT DISTINCT ON (dept) dept, name FROM emp ORDER BY dept, name;
-- expect: READ SELECT rows | SELECT _d1 AS dept, _d2 AS name FROM (SELECT dept AS _d1, name AS _d2, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY dept NULLS LAST, name NULLS LAST) AS _rn FROM emp) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _d2 NULLS LAST
SELECT DISTINCT ON (dept) dept, name AS n, salary FROM emp ORDER BY dept, salary DESC, id;
-- expect: READ SELECT rows | SELECT _d1 AS dept, _d2 AS n, _d3 AS salary FROM (SELECT dept AS _d1, name AS _d2, salary AS _d3, id AS _o1, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY dept NULLS LAST, salary DESC NULLS FIRST, id NULLS LAST) AS _rn FROM emp) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _d3 DESC NULLS FIRST, _o1 NULLS LAST
SELECT DISTINCT ON (dept) dept, name FROM emp ORDER BY dept, salary DESC NULLS LAST, id LIMIT 2;
-- expect: READ SELECT rows | SELECT _d1 AS dept, _d2 AS name FROM (SELECT dept AS _d1, name AS _d2, salary AS _o1, id AS _o2, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY dept NULLS LAST, salary DESC, id NULLS LAST) AS _rn FROM emp) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _o1 DESC, _o2 NULLS LAST LIMIT 2
SELECT DISTINCT ON (1) dept, name FROM emp ORDER BY 1, 2 DESC;
-- expect: READ SELECT rows | SELECT _d1 AS dept, _d2 AS name FROM (SELECT dept AS _d1, name AS _d2, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY dept NULLS LAST, name DESC NULLS FIRST) AS _rn FROM emp) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _d2 DESC NULLS FIRST
SELECT DISTINCT ON (e.dept) e.dept, d.title, e.name FROM emp e JOIN dept d ON d.code = e.dept ORDER BY e.dept, e.id;
-- expect: READ SELECT rows | SELECT _d1 AS dept, _d2 AS title, _d3 AS name FROM (SELECT e.dept AS _d1, d.title AS _d2, e.name AS _d3, e.id AS _o1, ROW_NUMBER() OVER (PARTITION BY e.dept ORDER BY e.dept NULLS LAST, e.id NULLS LAST) AS _rn FROM emp AS e JOIN dept AS d ON d.code = e.dept) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _o1 NULLS LAST
SELECT DISTINCT ON (active) active, count(*) AS n FROM emp GROUP BY active, dept ORDER BY active, n DESC, dept NULLS LAST;
-- expect: READ SELECT rows | SELECT _d1 AS active, _d2 AS n FROM (SELECT active AS _d1, COUNT(*) AS _d2, dept AS _o1, ROW_NUMBER() OVER (PARTITION BY active ORDER BY active NULLS LAST, COUNT(*) DESC NULLS FIRST, dept NULLS LAST) AS _rn FROM emp GROUP BY active, dept) AS _distinct_on WHERE _rn = 1 ORDER BY _d1 NULLS LAST, _d2 DESC NULLS FIRST, _o1 NULLS LAST
-- more expressions, NULL logic and ordering
SELECT name FROM emp WHERE active = false;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE active = FALSE
SELECT name FROM emp WHERE active IS NOT TRUE;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE NOT active IS TRUE
SELECT name FROM emp ORDER BY id LIMIT ALL;
-- expect: READ SELECT rows | SELECT name FROM emp ORDER BY id NULLS LAST
SELECT 1 WHERE 1 NOT IN (2, NULL);
-- expect: READ SELECT rows | SELECT 1 WHERE NOT 1 IN (2, NULL)
SELECT 1 WHERE 1 IN (1, NULL);
-- expect: READ SELECT rows | SELECT 1 WHERE 1 IN (1, NULL)
SELECT NULL::int IS NULL;
-- expect: READ SELECT rows | SELECT PG_CAST_INT(NULL, 'integer') IS NULL
SELECT count(*) OVER (PARTITION BY dept) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT COUNT(*) OVER (PARTITION BY dept) FROM emp ORDER BY id NULLS LAST
SELECT CAST(NULL AS TEXT);
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(NULL)
SELECT '' IS NULL;
-- expect: READ SELECT rows | SELECT '' IS NULL
SELECT name FROM emp WHERE note <> 'lead' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE note <> 'lead' ORDER BY id NULLS LAST
SELECT name FROM emp WHERE note != 'lead' ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE note <> 'lead' ORDER BY id NULLS LAST
SELECT sum(salary) FILTER (WHERE dept = 'ENG'), avg(bonus) FROM emp;
-- expect: READ SELECT rows | SELECT SUM(salary) FILTER(WHERE dept = 'ENG'), AVG(bonus) FROM emp
SELECT count(*) FROM (SELECT 1) AS x;
-- expect: READ SELECT rows | SELECT COUNT(*) FROM (SELECT 1) AS x
SELECT 1 AS "Mixed", 2 AS lower;
-- expect: READ SELECT rows | SELECT 1 AS "Mixed", 2 AS lower
SELECT * FROM emp e WHERE e.id = (SELECT max(id) FROM emp);
-- expect: READ SELECT rows | SELECT * FROM emp AS e WHERE e.id = (SELECT MAX(id) FROM emp)
SELECT exists(SELECT 1 FROM emp WHERE id = 100);
-- expect: READ SELECT rows | SELECT EXISTS(SELECT 1 FROM emp WHERE id = 100)
SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) s ORDER BY x DESC;
-- expect: READ SELECT rows | SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) AS s ORDER BY x DESC NULLS FIRST
SELECT dept, count(*) FROM emp GROUP BY 1 ORDER BY 1 NULLS FIRST;
-- expect: READ SELECT rows | SELECT dept, COUNT(*) FROM emp GROUP BY 1 ORDER BY 1
SELECT name FROM emp WHERE (dept, active) = ('ENG', true) ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE (dept, active) = ('ENG', TRUE) ORDER BY id NULLS LAST
SELECT name FROM emp WHERE dept = 'ENG' OR dept = 'SAL' AND active ORDER BY id;
-- expect: READ SELECT rows | SELECT name FROM emp WHERE dept = 'ENG' OR dept = 'SAL' AND active ORDER BY id NULLS LAST
SELECT 5 BETWEEN 1 AND 10, 5 NOT BETWEEN 1 AND 4;
-- expect: READ SELECT rows | SELECT 5 BETWEEN 1 AND 10, NOT 5 BETWEEN 1 AND 4
SELECT CASE WHEN 1 = 1 THEN NULL ELSE 1 END;
-- expect: READ SELECT rows | SELECT CASE WHEN 1 = 1 THEN NULL ELSE 1 END
SELECT nullif(0, 0) IS NULL;
-- expect: READ SELECT rows | SELECT NULLIF(0, 0) IS NULL
SELECT 1::text || 2::text;
-- expect: READ SELECT rows | SELECT PG_CAST_TEXT(1) || PG_CAST_TEXT(2)
SELECT '5'::int + 1;
-- expect: READ SELECT rows | SELECT PG_CAST_INT('5', 'integer') + 1
SELECT 0.1 + 0.2;
-- expect: READ SELECT rows | SELECT 0.1 + 0.2
SELECT 1e3, 1.5e-3;
-- expect: READ SELECT rows | SELECT 1e3, 1.5e-3
SELECT -0.0;
-- expect: READ SELECT rows | SELECT -0.0
SELECT 100000000000 * 100;
-- expect: READ SELECT rows | SELECT 100000000000 * 100
SELECT floor(-1.5), ceil(-1.5);
-- expect: READ SELECT rows | SELECT FLOOR(-1.5), CEIL(-1.5)
SELECT 7 & 3, 7 | 8, 1 << 4;
-- expect: READ SELECT rows | SELECT 7 & 3, 7 | 8, 1 << 4
SELECT id FROM item WHERE label IS NULL OR qty > 5 ORDER BY id;
-- expect: READ SELECT rows | SELECT id FROM item WHERE label IS NULL OR qty > 5 ORDER BY id NULLS LAST
SELECT id FROM item ORDER BY label NULLS FIRST, id;
-- expect: READ SELECT rows | SELECT id FROM item ORDER BY label, id NULLS LAST
SELECT id FROM item ORDER BY label DESC, id;
-- expect: READ SELECT rows | SELECT id FROM item ORDER BY label DESC NULLS FIRST, id NULLS LAST
SELECT upper(label) FROM item ORDER BY 1;
-- expect: READ SELECT rows | SELECT UPPER(label) FROM item ORDER BY 1 NULLS LAST
SELECT name, salary FROM emp ORDER BY 2 DESC NULLS LAST, 1;
-- expect: READ SELECT rows | SELECT name, salary FROM emp ORDER BY 2 DESC, 1 NULLS LAST
SELECT t.* FROM (SELECT id, qty FROM item) t ORDER BY t.id;
-- expect: READ SELECT rows | SELECT t.* FROM (SELECT id, qty FROM item) AS t ORDER BY t.id NULLS LAST
SELECT count(*) FROM emp WHERE hired IS NULL;
-- expect: READ SELECT rows | SELECT COUNT(*) FROM emp WHERE hired IS NULL
SELECT max(last_login) FROM emp;
-- expect: READ SELECT rows | SELECT MAX(last_login) FROM emp
SELECT name FROM emp WHERE last_login::date = '2024-05-01';
-- expect: READ SELECT rows | SELECT name FROM emp WHERE PG_CAST_DATE(last_login) = '2024-05-01'
SELECT to_char(last_login, 'YYYY-MM-DD HH24:MI') FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT STRFTIME('%Y-%m-%d %H:%M', last_login) FROM emp ORDER BY id NULLS LAST
SELECT date_part('year', hired) FROM emp ORDER BY id;
-- expect: READ SELECT rows | SELECT PG_EXTRACT('year', hired) FROM emp ORDER BY id NULLS LAST
SELECT (now() - interval '1 day') < now();
-- expect: READ SELECT rows fix | SELECT (PG_INTERVAL_ADD(pg_now(), '1 day', -1)) < pg_now()
SELECT concat_ws('-', 'a', NULL, 'b');
-- expect: READ SELECT rows | SELECT CONCAT_WS('-', 'a', NULL, 'b')
SELECT string_agg(DISTINCT dept, ',' ORDER BY dept) FROM emp;
-- expect: READ SELECT rows | SELECT GROUP_CONCAT(DISTINCT dept ORDER BY dept NULLS LAST) FROM emp
SELECT length(string_agg(DISTINCT dept, ',')) FROM emp;
-- expect: READ SELECT rows | SELECT LENGTH(GROUP_CONCAT(DISTINCT dept)) FROM emp
SELECT length('abc'::varchar(2));
-- expect: READ SELECT rows | SELECT LENGTH(PG_CAST_VARCHAR('abc', 2))
SELECT coalesce(NULL::int, 2);
-- expect: READ SELECT rows | SELECT COALESCE(PG_CAST_INT(NULL, 'integer'), 2)
SELECT id FROM item WHERE tag = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
-- expect: READ SELECT rows | SELECT id FROM item WHERE tag = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
SELECT id FROM item WHERE tag = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid;
-- expect: READ SELECT rows | SELECT id FROM item WHERE tag = PG_CAST_UUID('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')
