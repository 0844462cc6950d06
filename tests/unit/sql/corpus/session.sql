-- Transaction control and session statements are recognised without sqlglot.
BEGIN;
-- expect: TRANSACTION BEGIN | begin
BEGIN TRANSACTION;
-- expect: TRANSACTION BEGIN | begin
BEGIN WORK;
-- expect: TRANSACTION BEGIN | begin
BEGIN ISOLATION LEVEL SERIALIZABLE;
-- expect: TRANSACTION BEGIN | begin isolation='serializable'
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;
-- expect: TRANSACTION BEGIN | begin isolation='repeatable read' read_only=True
BEGIN READ WRITE;
-- expect: TRANSACTION BEGIN | begin
START TRANSACTION;
-- expect: TRANSACTION START TRANSACTION | begin
START TRANSACTION ISOLATION LEVEL READ COMMITTED;
-- expect: TRANSACTION START TRANSACTION | begin isolation='read committed'
START TRANSACTION READ ONLY;
-- expect: TRANSACTION START TRANSACTION | begin read_only=True
COMMIT;
-- expect: TRANSACTION COMMIT | commit
COMMIT WORK;
-- expect: TRANSACTION COMMIT | commit
END;
-- expect: TRANSACTION COMMIT | commit
END TRANSACTION;
-- expect: TRANSACTION COMMIT | commit
ROLLBACK;
-- expect: TRANSACTION ROLLBACK | rollback
ROLLBACK WORK;
-- expect: TRANSACTION ROLLBACK | rollback
ABORT;
-- expect: TRANSACTION ROLLBACK | rollback
SAVEPOINT sp1;
-- expect: TRANSACTION SAVEPOINT | savepoint name='sp1'
SAVEPOINT "Mixed Case";
-- expect: TRANSACTION SAVEPOINT | savepoint name='Mixed Case'
RELEASE SAVEPOINT sp1;
-- expect: TRANSACTION RELEASE | release name='sp1'
RELEASE sp1;
-- expect: TRANSACTION RELEASE | release name='sp1'
ROLLBACK TO SAVEPOINT sp1;
-- expect: TRANSACTION ROLLBACK | rollback_to name='sp1'
ROLLBACK TO sp1;
-- expect: TRANSACTION ROLLBACK | rollback_to name='sp1'
ROLLBACK TRANSACTION TO SAVEPOINT sp1;
-- expect: TRANSACTION ROLLBACK | rollback_to name='sp1'
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
-- expect: TRANSACTION SET | set_transaction isolation='serializable'
SET TRANSACTION READ ONLY;
-- expect: TRANSACTION SET | set_transaction read_only=True
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;
-- expect: SESSION SET | noop name='set'
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;
-- expect: SESSION SET | set name='default_transaction_read_only' value='on'
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE;
-- expect: SESSION SET | set name='default_transaction_read_only' value='off'
PREPARE TRANSACTION 'x';
-- error: 0A000 | PREPARE TRANSACTION is not supported
COMMIT PREPARED 'x';
-- error: 0A000 | COMMIT PREPARED is not supported
SET search_path = public;
-- expect: SESSION SET | set name='search_path' value='public'
SET search_path TO public, "$user";
-- expect: SESSION SET | set name='search_path' value='public, "$user"'
SET client_encoding = 'UTF8';
-- expect: SESSION SET | set name='client_encoding' value='UTF8'
SET application_name TO 'my app';
-- expect: SESSION SET | set name='application_name' value='my app'
SET statement_timeout = 5000;
-- expect: SESSION SET | set name='statement_timeout' value='5000'
SET SESSION datestyle = 'ISO, MDY';
-- expect: SESSION SET | set name='datestyle' value='ISO, MDY'
SET LOCAL lock_timeout = '1s';
-- expect: SESSION SET | set name='lock_timeout' value='1s' local=True
SET extra_float_digits = 3;
-- expect: SESSION SET | set name='extra_float_digits' value='3'
SET raftsql.read_consistency = 'linearizable';
-- expect: SESSION SET | set name='raftsql.read_consistency' value='linearizable'
SET raftsql.read_consistency TO stale;
-- expect: SESSION SET | set name='raftsql.read_consistency' value='stale'
SET TIME ZONE 'UTC';
-- expect: SESSION SET | set name='timezone' value='UTC'
SET TIME ZONE LOCAL;
-- expect: SESSION SET | set name='timezone' value='LOCAL'
SET timezone = DEFAULT;
-- expect: SESSION SET | set name='timezone'
SET standard_conforming_strings = on;
-- expect: SESSION SET | set name='standard_conforming_strings' value='on'
SET ROLE admin;
-- error: 0A000 | SET ROLE / SESSION AUTHORIZATION is not supported
SET SESSION AUTHORIZATION bob;
-- error: 0A000 | SET ROLE / SESSION AUTHORIZATION is not supported
SHOW server_version;
-- expect: SESSION SHOW rows | show name='server_version'
SHOW transaction_read_only;
-- expect: SESSION SHOW rows | show name='transaction_read_only'
SHOW TRANSACTION ISOLATION LEVEL;
-- expect: SESSION SHOW rows | show name='transaction_isolation'
SHOW TIME ZONE;
-- expect: SESSION SHOW rows | show name='timezone'
SHOW raftsql.applied_index;
-- expect: SESSION SHOW rows | show name='raftsql.applied_index'
SHOW ALL;
-- expect: SESSION SHOW rows | show name='all'
RESET statement_timeout;
-- expect: SESSION RESET | reset name='statement_timeout'
RESET ALL;
-- expect: SESSION RESET | reset_all
RESET raftsql.read_consistency;
-- expect: SESSION RESET | reset name='raftsql.read_consistency'
DISCARD ALL;
-- expect: SESSION DISCARD ALL | discard_all
DISCARD PLANS;
-- error: 0A000 | DISCARD PLANS is not supported
DEALLOCATE ALL;
-- expect: SESSION DEALLOCATE ALL | deallocate_all
DEALLOCATE stmt_1;
-- expect: SESSION DEALLOCATE | deallocate name='stmt_1'
DEALLOCATE PREPARE "__asyncpg_stmt_1__";
-- expect: SESSION DEALLOCATE | deallocate name='__asyncpg_stmt_1__'
LISTEN channel;
-- expect: SESSION LISTEN | listen name='channel'
UNLISTEN channel;
-- expect: SESSION UNLISTEN | unlisten name='channel'
UNLISTEN *;
-- expect: SESSION UNLISTEN | unlisten name='*'
VACUUM;
-- expect: SESSION VACUUM | noop name='vacuum'
VACUUM ANALYZE emp;
-- expect: SESSION VACUUM | noop name='vacuum'
ANALYZE;
-- expect: SESSION ANALYZE | noop name='analyze'
ANALYZE emp;
-- expect: SESSION ANALYZE | noop name='analyze'
VACUUM INTO '/tmp/copy.db';
-- error: 42501 | VACUUM INTO writes a node-local file and is not allowed
