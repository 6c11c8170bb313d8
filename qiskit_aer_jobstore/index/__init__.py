"""The SQL index of stored jobs: filters, schema, and the SQLite implementation."""

from .query import JobFilter, row_from_manifest
from .sqlite import SQLiteIndex

__all__ = ["JobFilter", "SQLiteIndex", "row_from_manifest"]
