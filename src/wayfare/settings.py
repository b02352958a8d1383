"""Settings of a Wayfare process, read from ``WAYFARE_*`` environment variables.

Settings are passed to what needs them (``Database``, ``create_app``); nothing reads them globally.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///wayfare.db"


class Settings(BaseSettings):
    """Everything a Wayfare process can be configured with."""

    model_config = SettingsConfigDict(env_prefix="WAYFARE_", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL: ``sqlite:///path.db`` (default, in the working folder) or
    ``postgresql://user@host/db`` (psycopg 3 is used whatever driver the URL names)."""

    sqlite_busy_timeout_ms: int = 5000
    """How long a SQLite connection waits for the single writer before failing."""

    demo: bool = True
    """Whether ``wayfare serve`` creates the demo application on an empty database."""

    allow_private_webhooks: bool = False
    """Whether ``FLOW_WEBHOOK`` may call loopback and private-network addresses."""

    public_url: str | None = None
    """The address customers' devices reach this server at (``https://wayfare.example.com``):
    tracking links (clicks, email opens, unsubscribe) are made under it. Without it messages
    are sent untracked; ``wayfare serve`` uses its own ``http://HOST:PORT`` then."""

    rate_limit: float = Field(1000.0, ge=0)
    """Requests per second each server key may make to one API process (0: no limit)."""

    rate_limit_burst: int | None = Field(None, ge=1)
    """How many requests a key may make at once before ``rate_limit`` applies (default:
    twice ``rate_limit``, at least 1)."""

    metrics_token: str | None = None
    """When set, ``GET /metrics`` wants ``Authorization: Bearer <this token>``."""
