"""Creating users, checking passwords, and issuing sessions and tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alianza.accounts.models import ApiToken, User, WebSession
from alianza.accounts.permissions import ROLES, Permission, require
from alianza.accounts.throttle import throttle
from alianza.errors import AuthenticationError, NotFoundError, SessionExpiredError, ValidationError, problem
from alianza.store.db import utcnow
from alianza.vocab import vocabulary

_hasher = PasswordHasher()
MIN_PASSWORD = 12
# A hash computed once so that an unknown username costs as much as a wrong password (no user enumeration).
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_user_fields(username: str, password: str, role: str, agency: str, lang: str) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        problems.append({"field": "username", "message": "Use letters, digits, dots, dashes or underscores."})
    if len(password) < MIN_PASSWORD:
        problems.append(problem("password", "Use at least {count} characters.", count=MIN_PASSWORD))
    if role not in ROLES:
        problems.append(problem("role", "Unknown role; use one of {known}.", known=", ".join(sorted(ROLES))))
    if agency not in vocabulary().agencies:
        problems.append({"field": "agency", "message": "Unknown agency code; see 'alianza vocab agencies'."})
    if lang not in ("en", "es"):
        problems.append({"field": "lang", "message": "Use en or es."})
    return problems


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    agency: str,
    display_name: str | None = None,
    lang: str = "en",
    actor: User | None = None,
) -> User:
    """Create a user; ``actor`` is None only when the node itself bootstraps its first admin."""
    if actor is not None:
        require(actor, Permission.MANAGE_USERS)
    problems = validate_user_fields(username, password, role, agency, lang)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        problems.append({"field": "username", "message": "This username is taken."})
    if problems:
        raise ValidationError("The user cannot be created: {count} problem(s).", details=problems, count=len(problems))
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        role=role,
        agency=agency,
        lang=lang,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User:
    wait = throttle.wait_seconds(username)
    if wait:
        raise AuthenticationError(
            "Too many failed sign-ins for this account; try again in {minutes} minute(s).",
            minutes=(wait + 59) // 60,
        )
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        throttle.failed(username)
        raise AuthenticationError("Wrong username or password.")
    throttle.succeeded(username)
    return user


def set_language(session: Session, user: User, lang: str) -> None:
    if lang not in ("en", "es"):
        raise ValidationError("Language must be en or es.")
    db_user = session.get(User, user.id)
    if db_user is not None:
        db_user.lang = lang
    user.lang = lang


def open_session(session: Session, user: User, minutes: int) -> tuple[str, WebSession]:
    """Start a browser session; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    session.add(row)
    session.execute(delete(WebSession).where(WebSession.expires_at < utcnow() - timedelta(days=1)))
    session.flush()
    return token, row


def resolve_session(session: Session, token: str, *, now: datetime | None = None) -> WebSession:
    row = session.get(WebSession, _digest(token))
    if row is None:
        raise AuthenticationError("Please sign in.")
    if row.expires_at < (now or utcnow()):
        raise SessionExpiredError("Your session expired; please sign in again.")
    if not row.user.active:
        raise AuthenticationError("This account is disabled.")
    return row


def extend_session(session: Session, token: str, minutes: int) -> None:
    """Sliding expiry: activity in the second half of a session's life renews it, so work is not lost."""
    row = session.get(WebSession, _digest(token))
    if row is not None and row.expires_at - utcnow() < timedelta(minutes=minutes / 2):
        row.expires_at = utcnow() + timedelta(minutes=minutes)


def close_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def issue_token(session: Session, user: User, name: str, days: int | None = None) -> str:
    """Issue an API token for scripts and the CLI; the clear token is returned once and never stored."""
    token = "alz_" + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token), expires_at=expires))
    session.flush()
    return token


def resolve_token(session: Session, token: str) -> User:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked:
        raise AuthenticationError("The API token is unknown or revoked; issue a new one with 'alianza token create'.")
    if row.expires_at is not None and row.expires_at < utcnow():
        raise SessionExpiredError("The API token expired; issue a new one with 'alianza token create'.")
    if not row.user.active:
        raise AuthenticationError("This account is disabled.")
    return row.user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError("No user named {username}.", username=username)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
