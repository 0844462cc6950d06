-- Shared data for the exec_*.sql corpus files, run as-is on PostgreSQL and translated on SQLite.
CREATE TABLE dept (code TEXT PRIMARY KEY, title TEXT NOT NULL, budget BIGINT, floor SMALLINT);
CREATE TABLE emp (
    id SERIAL PRIMARY KEY,
    name VARCHAR(40) NOT NULL,
    dept TEXT REFERENCES dept (code),
    salary NUMERIC(10,2),
    hired DATE,
    active BOOLEAN NOT NULL DEFAULT true,
    manager_id INTEGER,
    email VARCHAR(60) UNIQUE,
    bonus DOUBLE PRECISION,
    last_login TIMESTAMP,
    note TEXT
);
CREATE TABLE item (
    id INTEGER PRIMARY KEY,
    emp_id INTEGER,
    qty INTEGER NOT NULL CHECK (qty >= 0),
    price NUMERIC(8,2),
    label TEXT,
    meta JSONB,
    tag UUID
);
CREATE INDEX item_emp ON item (emp_id);
CREATE TABLE audit (
    id SERIAL PRIMARY KEY,
    what TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    tag UUID DEFAULT gen_random_uuid(),
    weight DOUBLE PRECISION DEFAULT random()
);
INSERT INTO dept VALUES ('ENG', 'Engineering', 1000000, 3), ('OPS', 'Operations', 250000, 1),
    ('SAL', 'Sales', 500000, 2), ('HR', 'People', NULL, NULL);
INSERT INTO emp (name, dept, salary, hired, active, manager_id, email, bonus, last_login, note) VALUES
    ('Alice', 'ENG', 9500.50, '2019-03-01', true, NULL, 'alice@example.com', 1200.5, '2024-05-01 09:30:00', 'lead'),
    ('bob', 'ENG', 7200.00, '2020-07-15', true, 1, 'bob@example.com', NULL, '2024-05-02 17:45:30.5', NULL),
    ('Carol', 'OPS', 6100.25, '2018-11-30', false, 1, NULL, 300.0, NULL, 'part-time'),
    ('dave', 'SAL', 5000.00, '2021-01-04', true, 3, 'dave@example.com', 0.0, '2024-04-30 23:59:59', 'Remote_100%'),
    ('Eve', NULL, NULL, NULL, true, NULL, 'eve@example.com', NULL, NULL, NULL),
    ('Frank', 'SAL', 5000.00, '2022-02-28', true, 4, 'FRANK@example.com', 99.99, '2024-02-29 12:00:00', 'it''s fine'),
    ('Grace', 'ENG', 12000.75, '2017-06-12', true, NULL, 'grace@example.com', 5000.0, '2024-05-05 08:00:00', 'Ünïcode');
INSERT INTO item VALUES
    (1, 1, 3, 19.99, 'pen', '{"color": "blue", "n": 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
    (2, 1, 0, 5.00, 'pad', '{"color": "red"}', NULL),
    (3, 2, 10, 1.25, 'clip', NULL, NULL),
    (4, 3, 1, 250.00, 'chair', '{"n": 2, "tags": ["a", "b"]}', NULL),
    (5, NULL, 7, 0.50, NULL, '[]', NULL),
    (6, 7, 2, 999.99, 'laptop', '{"n": 3}', 'b1ffcd88-8d1a-4ef8-bb6d-6bb9bd380a22');
CREATE TABLE span (id INTEGER PRIMARY KEY, d INTERVAL, at TIMESTAMP);
INSERT INTO span VALUES (1, '1 day', '2024-01-31 10:00:00'), (2, '1 mon', '2024-02-29 00:00:00'),
    (3, '30 days', '2024-03-01 12:30:00'), (4, '-1 days +02:00:00', '2024-05-06 07:08:09.25'),
    (5, '1 year 2 mons 3 days 04:05:06.5', NULL), (6, NULL, '2024-01-01 00:00:00'),
    (7, '01:30:00', '2023-12-31 23:00:00'), (8, '29 days 23:59:59.999999', NULL);
