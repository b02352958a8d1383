"""Streaming imports of customers, contact lists and events from CSV (and JSONL for events).

Each import runs in one transaction with constant memory, whatever the file's size.
"""

from wayfare.importing.customers import import_customers
from wayfare.importing.source import ImportReport

__all__ = ["ImportReport", "import_customers"]
