"""The console's pages: one module per section, each with a ``router``."""
