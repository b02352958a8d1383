"""Console users and their sessions.

A user logs in with an e-mail address and a password, kept only as a scrypt hash (RFC 7914,
``n=2**14, r=8, p=1``). A login opens a session: the browser holds a random token in a cookie,
the database its SHA-256, a CSRF token the console's forms echo back, and the application the
user is looking at. Every console user may see every application of the installation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from wayfare.errors import Conflict, InvalidInput, Problem
from wayfare.store.keys import hash_secret
from wayfare.store.schema import applications, console_sessions, console_users

SESSION_LIFETIME = timedelta(days=7)
"""How long a login lasts."""

MIN_PASSWORD = 8
"""The shortest password accepted."""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True, slots=True)
class User:
    """A console user (never their password)."""

    id: int
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: who, its CSRF token, and the application it shows."""

    id: int
    user: User
    csrf_token: str
    application_id: int | None


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>`` for ``password``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
    scheme, _, rest = stored.partition("$")
    salt, _, _digest = rest.partition("$")
    if scheme != "scrypt" or not salt:
        return False
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


def create_user(conn: Connection, email: str, name: str, password: str, now: datetime) -> User:
    """A new console user; ``InvalidInput`` for a bad address or a short password."""
    email = email.strip().lower()
    problems = []
    if "@" not in email or len(email) > 320:
        problems.append(Problem("email", "is not an e-mail address", "invalid"))
    if len(password) < MIN_PASSWORD:
        problems.append(
            Problem("password", f"must be at least {MIN_PASSWORD} characters", "too_short")
        )
    if problems:
        raise InvalidInput(problems=problems)
    if conn.execute(select(console_users.c.id).where(console_users.c.email == email)).first():
        raise Conflict(f"a console user {email} already exists")
    user_id = conn.execute(
        insert(console_users)
        .values(
            email=email,
            name=name.strip() or email,
            password_hash=hash_password(password),
            enabled=True,
            created_at=now,
        )
        .returning(console_users.c.id)
    ).scalar_one()
    return User(user_id, email, name.strip() or email)


def check_login(conn: Connection, email: str, password: str) -> User | None:
    """The enabled user with that address and password, or None."""
    row = conn.execute(
        select(console_users).where(console_users.c.email == email.strip().lower())
    ).first()
    if row is None or not row.enabled:
        hash_password(password)  # the same work either way: no timing oracle for addresses
        return None
    if not password_matches(password, row.password_hash):
        return None
    return User(row.id, row.email, row.name)


def open_session(conn: Connection, user: User, now: datetime) -> str:
    """A new session for ``user`` on the first application; the cookie token (shown once)."""
    token = secrets.token_urlsafe(32)
    first = conn.execute(select(applications.c.id).order_by(applications.c.id).limit(1))
    conn.execute(
        insert(console_sessions).values(
            token_hash=hash_secret(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(24),
            application_id=first.scalar(),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
    return token


def find_session(conn: Connection, token: str, now: datetime) -> Session | None:
    """The live session of cookie ``token``, or None."""
    row = conn.execute(
        select(
            console_sessions.c.id,
            console_sessions.c.csrf_token,
            console_sessions.c.application_id,
            console_users.c.id.label("user_id"),
            console_users.c.email,
            console_users.c.name,
        )
        .join(console_users, console_users.c.id == console_sessions.c.user_id)
        .where(
            console_sessions.c.token_hash == hash_secret(token),
            console_sessions.c.expires_at > now,
            console_users.c.enabled,
        )
    ).first()
    if row is None:
        return None
    user = User(row.user_id, row.email, row.name)
    return Session(row.id, user, row.csrf_token, row.application_id)


def show_application(conn: Connection, session: Session, application_id: int) -> None:
    """Make ``application_id`` the one ``session`` shows."""
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id == session.id)
        .values(application_id=application_id)
    )


def close_session(conn: Connection, token: str) -> None:
    """Log the browser holding ``token`` out."""
    conn.execute(
        delete(console_sessions).where(console_sessions.c.token_hash == hash_secret(token))
    )
