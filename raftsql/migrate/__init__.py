"""raftsql's migrations runner: ``migrations/NNNN_name.sql`` applied once each, one
transaction (one log entry) per migration, recorded in the replicated ``raftsql_migrations``
table. docs/migrations.md is the user's guide; ``raftsql migrate`` the command line.
``raftsql.migrate.embedded.DbapiTarget`` runs them over an embedded ``raftsql.connect``.
"""

from raftsql.migrate.files import Migration, MigrationFileError, load
from raftsql.migrate.runner import (
    DEFAULT_DIR,
    DEFAULT_DSN,
    AsyncpgTarget,
    ChecksumMismatch,
    MigrationError,
    MigrationFailed,
    StatusRow,
    Target,
    down,
    down_async,
    format_status,
    status,
    status_async,
    up,
    up_async,
)

__all__ = ["DEFAULT_DIR", "DEFAULT_DSN", "AsyncpgTarget", "ChecksumMismatch", "Migration",
           "MigrationError", "MigrationFailed", "MigrationFileError", "StatusRow", "Target",
           "down", "down_async", "format_status", "load", "status", "status_async", "up",
           "up_async"]
