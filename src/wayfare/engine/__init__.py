"""The journey engine: pure decisions per state type, and the runner that applies them durably."""
