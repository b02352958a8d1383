"""Channels: one adapter per channel, speaking its provider's real protocol.

Each adapter turns a rendered message into one provider call and returns a delivery value
(``Sent``, ``Skipped``, ``RetryLater`` or ``Failed``); the dispatcher owns retries, rate limits
and writing outcomes. ``base`` holds the shared types.
"""
