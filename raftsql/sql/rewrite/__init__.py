"""PostgreSQL -> SQLite rewriting: a text pre-pass (scan), AST rules (rules) and a SQLite
generator that keeps PostgreSQL semantics (dialect). translate.py composes them."""
