"""Streaming imports of customers, contact lists and events from CSV (and JSONL for events).

Each import runs in one transaction with constant memory, whatever the file's size; with any
bad row (and no ``ignore_errors``) it raises ``ImportFailed`` listing the problems and stores
nothing.
"""

from wayfare.importing.customers import import_customers
from wayfare.importing.events import import_events
from wayfare.importing.lists import import_list
from wayfare.importing.source import ImportReport

__all__ = ["ImportReport", "import_customers", "import_events", "import_list"]
