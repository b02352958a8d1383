"""Wayfare: an open-source customer-journey orchestration engine."""

__version__ = "0.1.0"
