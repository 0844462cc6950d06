-- Writes run inside a savepoint on both engines (rolled back after each case); RETURNING
-- rows and errors must agree with PostgreSQL 15.
INSERT INTO dept VALUES ('LAB', 'Research', 42, 4) RETURNING *;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('LAB', 'Research', 42, 4) RETURNING *
INSERT INTO dept (code, title) VALUES ('X1', 'One'), ('X2', 'Two') RETURNING code, budget;
-- expect: WRITE INSERT rows | INSERT INTO dept (code, title) VALUES ('X1', 'One'), ('X2', 'Two') RETURNING code, budget
INSERT INTO dept (code, title) VALUES ('ENG', 'dup');
-- expect: WRITE INSERT | INSERT INTO dept (code, title) VALUES ('ENG', 'dup')
INSERT INTO dept (code) VALUES ('NOTITLE');
-- expect: WRITE INSERT | INSERT INTO dept (code) VALUES ('NOTITLE')
INSERT INTO item (id, qty) VALUES (100, -1);
-- expect: WRITE INSERT | INSERT INTO item (id, qty) VALUES (100, -1)
INSERT INTO emp (name, dept) VALUES ('Zed', 'NOPE');
-- expect: WRITE INSERT | INSERT INTO emp (name, dept) VALUES ('Zed', 'NOPE')
INSERT INTO emp (name, dept, salary) VALUES ('Zed', 'OPS', 1234.5) RETURNING name, dept, salary, active;
-- expect: WRITE INSERT rows | INSERT INTO emp (name, dept, salary) VALUES ('Zed', 'OPS', 1234.5) RETURNING name, dept, salary, active
INSERT INTO emp (name) VALUES ('Yan') RETURNING name, active;
-- expect: WRITE INSERT rows | INSERT INTO emp (name) VALUES ('Yan') RETURNING name, active
INSERT INTO emp (name, email) VALUES ('Dup', 'bob@example.com');
-- expect: WRITE INSERT | INSERT INTO emp (name, email) VALUES ('Dup', 'bob@example.com')
INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT (code) DO NOTHING RETURNING code;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT(code) DO NOTHING RETURNING code
INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT DO NOTHING;
-- expect: WRITE INSERT | INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT DO NOTHING
INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT (code) DO UPDATE SET title = EXCLUDED.title RETURNING code, title, budget;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('ENG', 'Eng2', 1, 1) ON CONFLICT(code) DO UPDATE SET title = excluded.title RETURNING code, title, budget
INSERT INTO dept VALUES ('NEW', 'New', 5, 5) ON CONFLICT (code) DO UPDATE SET title = EXCLUDED.title RETURNING *;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('NEW', 'New', 5, 5) ON CONFLICT(code) DO UPDATE SET title = excluded.title RETURNING *
INSERT INTO dept VALUES ('OPS', 'Ops2', 7, 1) ON CONFLICT (code) DO UPDATE SET budget = dept.budget + EXCLUDED.budget RETURNING budget;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('OPS', 'Ops2', 7, 1) ON CONFLICT(code) DO UPDATE SET budget = dept.budget + excluded.budget RETURNING budget
INSERT INTO dept VALUES ('OPS', 'Ops2', 7, 1) ON CONFLICT (code) DO UPDATE SET budget = 0 WHERE dept.floor > 5 RETURNING budget;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('OPS', 'Ops2', 7, 1) ON CONFLICT(code) DO UPDATE SET budget = 0 WHERE dept.floor > 5 RETURNING budget
INSERT INTO item (id, emp_id, qty, label) SELECT id + 100, id, 1, name FROM emp WHERE dept = 'ENG' RETURNING id, label;
-- expect: WRITE INSERT rows | INSERT INTO item (id, emp_id, qty, label) SELECT id + 100, id, 1, name FROM emp WHERE dept = 'ENG' RETURNING id, label
INSERT INTO dept (code, title, budget) VALUES ('D', 'Defaulted', DEFAULT) RETURNING *;
-- expect: WRITE INSERT rows | INSERT INTO dept (code, title) VALUES ('D', 'Defaulted') RETURNING *
WITH src AS (SELECT 'W1' AS c, 'With' AS t) INSERT INTO dept (code, title) SELECT c, t FROM src RETURNING code;
-- expect: WRITE INSERT rows | WITH src AS (SELECT 'W1' AS c, 'With' AS t) INSERT INTO dept (code, title) SELECT c, t FROM src RETURNING code
INSERT INTO item (id, qty, meta) VALUES (200, 1, '{"k": [1, 2]}') RETURNING meta;
-- expect: WRITE INSERT rows | INSERT INTO item (id, qty, meta) VALUES (200, 1, '{"k": [1, 2]}') RETURNING meta
INSERT INTO emp (name, hired, last_login) VALUES ('T', '2024-02-29', '2024-02-29 23:59:59.999') RETURNING hired, last_login;
-- expect: WRITE INSERT rows | INSERT INTO emp (name, hired, last_login) VALUES ('T', '2024-02-29', '2024-02-29 23:59:59.999') RETURNING hired, last_login
UPDATE emp SET salary = salary * 2 WHERE dept = 'ENG' RETURNING id, salary;
-- expect: WRITE UPDATE rows | UPDATE emp SET salary = salary * 2 WHERE dept = 'ENG' RETURNING id, salary
UPDATE emp SET active = NOT active WHERE id = 3 RETURNING active;
-- expect: WRITE UPDATE rows | UPDATE emp SET active = NOT active WHERE id = 3 RETURNING active
UPDATE emp SET note = NULL WHERE note IS NOT NULL RETURNING id;
-- expect: WRITE UPDATE rows | UPDATE emp SET note = NULL WHERE note IS NOT NULL RETURNING id
UPDATE emp SET salary = 1 WHERE false;
-- expect: WRITE UPDATE | UPDATE emp SET salary = 1 WHERE FALSE
UPDATE emp SET name = NULL WHERE id = 1;
-- expect: WRITE UPDATE | UPDATE emp SET name = NULL WHERE id = 1
UPDATE item SET qty = qty - 5 WHERE id = 1;
-- expect: WRITE UPDATE | UPDATE item SET qty = qty - 5 WHERE id = 1
UPDATE emp SET email = 'alice@example.com' WHERE id = 2;
-- expect: WRITE UPDATE | UPDATE emp SET email = 'alice@example.com' WHERE id = 2
UPDATE emp SET dept = d.code FROM dept d WHERE d.title = 'People' AND emp.id = 5 RETURNING emp.name, emp.dept;
-- expect: WRITE UPDATE rows | UPDATE emp SET dept = d.code FROM dept AS d WHERE d.title = 'People' AND emp.id = 5 RETURNING emp.name, emp.dept
UPDATE item SET price = price / 0 WHERE id = 1;
-- expect: WRITE UPDATE | UPDATE item SET price = PG_DIV(price, 0) WHERE id = 1
UPDATE item SET qty = qty / 2 WHERE id = 3 RETURNING qty;
-- expect: WRITE UPDATE rows | UPDATE item SET qty = PG_DIV(qty, 2) WHERE id = 3 RETURNING qty
UPDATE emp SET last_login = last_login + interval '1 hour' WHERE id = 1 RETURNING last_login;
-- expect: WRITE UPDATE rows | UPDATE emp SET last_login = PG_INTERVAL_ADD(last_login, '1 hour', 1) WHERE id = 1 RETURNING last_login
UPDATE emp SET hired = '2025-01-01' WHERE id IN (SELECT emp_id FROM item WHERE qty = 0) RETURNING id, hired;
-- expect: WRITE UPDATE rows | UPDATE emp SET hired = '2025-01-01' WHERE id IN (SELECT emp_id FROM item WHERE qty = 0) RETURNING id, hired
UPDATE dept SET budget = (SELECT count(*) FROM emp WHERE emp.dept = dept.code) RETURNING code, budget;
-- expect: WRITE UPDATE rows | UPDATE dept SET budget = (SELECT COUNT(*) FROM emp WHERE emp.dept = dept.code) RETURNING code, budget
DELETE FROM item WHERE qty = 0 RETURNING id;
-- expect: WRITE DELETE rows | DELETE FROM item WHERE qty = 0 RETURNING id
DELETE FROM item WHERE emp_id IS NULL;
-- expect: WRITE DELETE | DELETE FROM item WHERE emp_id IS NULL
DELETE FROM item RETURNING id;
-- expect: WRITE DELETE rows | DELETE FROM item RETURNING id
DELETE FROM item WHERE id IN (SELECT i.id FROM item i JOIN emp e ON e.id = i.emp_id WHERE e.dept = 'ENG') RETURNING id;
-- expect: WRITE DELETE rows | DELETE FROM item WHERE id IN (SELECT i.id FROM item AS i JOIN emp AS e ON e.id = i.emp_id WHERE e.dept = 'ENG') RETURNING id
DELETE FROM dept WHERE code = 'ENG';
-- expect: WRITE DELETE | DELETE FROM dept WHERE code = 'ENG'
DELETE FROM emp WHERE id = 999 RETURNING *;
-- expect: WRITE DELETE rows | DELETE FROM emp WHERE id = 999 RETURNING *
TRUNCATE item;
-- expect: WRITE TRUNCATE TABLE | DELETE FROM item
CREATE TABLE tmp_a (id SERIAL PRIMARY KEY, v TEXT);
-- expect: DDL CREATE TABLE | CREATE TABLE tmp_a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)
CREATE TABLE IF NOT EXISTS dept (code TEXT);
-- expect: DDL CREATE TABLE | CREATE TABLE IF NOT EXISTS dept (code TEXT)
CREATE TABLE dept (code TEXT);
-- expect: DDL CREATE TABLE | CREATE TABLE dept (code TEXT)
DROP TABLE IF EXISTS no_such_table;
-- expect: DDL DROP TABLE | DROP TABLE IF EXISTS no_such_table
DROP TABLE no_such_table;
-- expect: DDL DROP TABLE | DROP TABLE no_such_table
CREATE INDEX IF NOT EXISTS emp_name ON emp (name);
-- expect: DDL CREATE INDEX | CREATE INDEX IF NOT EXISTS emp_name ON emp(name)
CREATE UNIQUE INDEX dept_title ON dept (title);
-- expect: DDL CREATE INDEX | CREATE UNIQUE INDEX dept_title ON dept(title)
CREATE VIEW eng AS SELECT name FROM emp WHERE dept = 'ENG';
-- expect: DDL CREATE VIEW | CREATE VIEW eng AS SELECT name FROM emp WHERE dept = 'ENG'
ALTER TABLE dept ADD COLUMN phone TEXT;
-- expect: DDL ALTER TABLE | ALTER TABLE dept ADD COLUMN phone TEXT
ALTER TABLE dept RENAME COLUMN floor TO level;
-- expect: DDL ALTER TABLE | ALTER TABLE dept RENAME COLUMN floor TO level
ALTER TABLE dept DROP COLUMN floor;
-- expect: DDL ALTER TABLE | ALTER TABLE dept DROP COLUMN floor
ALTER TABLE item RENAME TO thing;
-- expect: DDL ALTER TABLE | ALTER TABLE item RENAME TO thing
SELECT no_such_column FROM emp;
-- expect: READ SELECT rows | SELECT no_such_column FROM emp
SELECT * FROM no_such_table;
-- expect: READ SELECT rows | SELECT * FROM no_such_table
-- Nondeterministic column defaults, filled by the leader (values differ from PostgreSQL's
-- clock, so only their presence and the other columns are compared).
INSERT INTO audit (what) VALUES ('one'), ('two') RETURNING what, at IS NOT NULL, tag IS NOT NULL, weight >= 0 AND weight < 1;
-- expect: WRITE INSERT rows | INSERT INTO audit (what) VALUES ('one'), ('two') RETURNING what, at IS NOT NULL, tag IS NOT NULL, weight >= 0 AND weight < 1
INSERT INTO audit (what) SELECT name FROM emp WHERE dept = 'ENG' RETURNING what, at IS NOT NULL, tag IS NOT NULL;
-- expect: WRITE INSERT rows | INSERT INTO audit (what) SELECT name FROM emp WHERE dept = 'ENG' RETURNING what, at IS NOT NULL, tag IS NOT NULL
INSERT INTO audit (what, tag) VALUES ('given', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') RETURNING what, tag;
-- expect: WRITE INSERT rows | INSERT INTO audit (what, tag) VALUES ('given', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') RETURNING what, tag
INSERT INTO audit (what) SELECT 'x' UNION SELECT 'y';
-- expect: WRITE INSERT | INSERT INTO audit (what) SELECT 'x' UNION SELECT 'y'
INSERT INTO audit (what) SELECT name FROM emp RETURNING (SELECT count(DISTINCT tag) FROM audit) >= 0;
-- expect: WRITE INSERT rows | INSERT INTO audit (what) SELECT name FROM emp RETURNING (SELECT COUNT(DISTINCT tag) FROM audit) >= 0
INSERT INTO dept VALUES ('ENG', 'x', 1, 1) ON CONFLICT (code) DO NOTHING;
-- expect: WRITE INSERT | INSERT INTO dept VALUES ('ENG', 'x', 1, 1) ON CONFLICT(code) DO NOTHING
-- A list-less INSERT with fewer values than columns: PostgreSQL defaults the rest.
INSERT INTO dept VALUES ('Z', 'Zeta') RETURNING *;
-- expect: WRITE INSERT rows | INSERT INTO dept VALUES ('Z', 'Zeta') RETURNING *
INSERT INTO emp VALUES (50, 'Fifty') RETURNING id, name, active, dept;
-- expect: WRITE INSERT rows | INSERT INTO emp VALUES (50, 'Fifty') RETURNING id, name, active, dept
INSERT INTO audit VALUES (90, 'short') RETURNING id, what, at IS NOT NULL;
-- expect: WRITE INSERT rows | INSERT INTO audit VALUES (90, 'short') RETURNING id, what, at IS NOT NULL
