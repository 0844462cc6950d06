CREATE TABLE cp (id integer PRIMARY KEY, name text, price numeric(10,2), note text);
INSERT INTO cp VALUES (1, 'apple', 1.5, 'plain'), (2, 'pear, ripe', 12.25, NULL), (3, 'quote"d', 0, 'a
b');
\copy cp TO 'psql_copy_out.csv' CSV
\copy cp TO 'psql_copy_hdr.csv' CSV HEADER
\copy (SELECT id, name FROM cp WHERE id > 1 ORDER BY id) TO STDOUT
\copy (SELECT id, name, note FROM cp ORDER BY id) TO STDOUT CSV
CREATE TABLE cp2 (id integer PRIMARY KEY, name text, price numeric(10,2), note text);
\copy cp2 FROM 'psql_copy_out.csv' CSV
\copy cp2 (id, name, price, note) FROM 'psql_copy_hdr.csv' WITH (FORMAT csv, HEADER true)
TRUNCATE cp2;
\copy cp2 (id, name, price, note) FROM 'psql_copy_hdr.csv' WITH (FORMAT csv, HEADER true)
SELECT * FROM cp2 ORDER BY id;
SELECT count(*) FROM cp2;
\set FETCH_COUNT 2
SELECT id, name FROM cp2 ORDER BY id;
SELECT id FROM cp2 WHERE id > 100;
BEGIN;
SELECT name FROM cp2 ORDER BY id DESC;
COMMIT;
\unset FETCH_COUNT
SELECT 1 AS done;
DROP TABLE cp;
DROP TABLE cp2;
