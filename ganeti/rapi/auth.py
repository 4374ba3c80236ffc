"""RAPI users, bearer tokens and the access decision.

Users file (Ganeti's format, ``<data dir>/rapi/users``)::

    # name  password             options
    alice   {HA1}0a1b...          write
    bob     {CLEARTEXT}secret     read
    carol   secret

Options are comma separated; ``read`` and ``write`` are known.  ``{HA1}`` is the MD5 of
``user:Ganeti Remote API:password``; the scheme prefix is case-insensitive; a password
not starting with ``{`` is clear text.

Tokens (an extension, ``<data dir>/rapi/tokens``) are stored as SHA-256 digests, one per
line: ``<name> <role> <hex digest>``.  Roles: ``read`` (like a ``read`` user),
``operator`` (read, plus the actions on existing instances and waiting on or cancelling
jobs) and ``admin`` (like a ``write`` user).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ganeti.fileutils import write_file_atomic
from ganeti.paths import Paths

log = Logger()

REALM = "Ganeti Remote API"
READ = "read"
WRITE = "write"
OPERATOR = "operator"
KNOWN_OPTIONS = frozenset({READ, WRITE})

ROLE_READ = "read"
ROLE_OPERATOR = "operator"
ROLE_ADMIN = "admin"
ROLE_RIGHTS: Mapping[str, frozenset[str]] = {
    ROLE_READ: frozenset({READ}),
    ROLE_OPERATOR: frozenset({READ, OPERATOR}),
    ROLE_ADMIN: frozenset({READ, WRITE}),
}
TOKEN_PREFIX = "gnt_"
# How often (seconds) a request may stat the users/tokens file to notice changes.
RECHECK_INTERVAL = 1.0


def tokens_path(paths: Paths) -> Path:
    return paths.rapi_users.parent / "tokens"


@attrs.frozen
class User:
    name: str
    password: str  # as written in the file, scheme included
    options: frozenset[str]

    def check_password(self, given: str) -> bool:
        stored = self.password
        if stored[:1] == "{":
            scheme, _, value = stored[1:].partition("}")
            scheme = scheme.upper()
            if scheme == "CLEARTEXT":
                return hmac.compare_digest(value.encode(), given.encode())
            if scheme == "HA1":
                digest = ha1(self.name, given)
                return hmac.compare_digest(value.lower().encode(), digest.encode())
            return False  # unknown scheme: nobody gets in
        return hmac.compare_digest(stored.encode(), given.encode())


def ha1(user: str, password: str) -> str:
    return hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()


def parse_users(text: str) -> dict[str, User]:
    """Users by name; malformed lines are skipped with a warning."""
    users: dict[str, User] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or len(parts) > 3:
            log.warn("users file line {lineno}: expected 'name password [options]'", lineno=lineno)
            continue
        options = frozenset(o for o in parts[2].split(",") if o) if len(parts) == 3 else frozenset()
        unknown = options - KNOWN_OPTIONS
        if unknown:
            log.warn(
                "users file line {lineno}: ignoring unknown option(s) {opts}",
                lineno=lineno,
                opts=",".join(sorted(unknown)),
            )
        users[parts[0]] = User(parts[0], parts[1], options & KNOWN_OPTIONS)
    return users


@attrs.frozen
class Token:
    name: str
    role: str
    digest: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(text: str) -> dict[str, Token]:
    """Tokens by digest."""
    tokens: dict[str, Token] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[1] not in ROLE_RIGHTS:
            log.warn("tokens file line {lineno}: expected 'name role digest'", lineno=lineno)
            continue
        tokens[parts[2].lower()] = Token(parts[0], parts[1], parts[2].lower())
    return tokens


def format_tokens(tokens: Mapping[str, Token]) -> str:
    lines = ["# name role sha256-of-token (managed by gnt-rapi-token)"]
    lines += [
        f"{t.name} {t.role} {t.digest}" for t in sorted(tokens.values(), key=lambda t: t.name)
    ]
    return "\n".join(lines) + "\n"


def add_token(path: Path, name: str, role: str) -> str:
    """Create a token for ``name`` (replacing one of the same name); returns it, once."""
    if role not in ROLE_RIGHTS:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(sorted(ROLE_RIGHTS))})")
    if not name or any(c.isspace() for c in name):
        raise ValueError("a token name must be non-empty and contain no white space")
    tokens = parse_tokens(path.read_text()) if path.exists() else {}
    tokens = {d: t for d, t in tokens.items() if t.name != name}
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = token_digest(token)
    tokens[digest] = Token(name, role, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, format_tokens(tokens).encode(), mode=0o600)
    return token


def remove_token(path: Path, name: str) -> bool:
    tokens = parse_tokens(path.read_text()) if path.exists() else {}
    kept = {d: t for d, t in tokens.items() if t.name != name}
    if len(kept) == len(tokens):
        return False
    write_file_atomic(path, format_tokens(kept).encode(), mode=0o600)
    return True


T = TypeVar("T")


class WatchedFile(Generic[T]):
    """A parsed file, re-read when it changes (checked at most every RECHECK_INTERVAL
    seconds, on use) or when :meth:`reload` is called (SIGHUP).  Missing = empty."""

    def __init__(self, path: Path, parse: Callable[[str], T], clock: IReactorTime) -> None:
        self.path = path
        self._parse = parse
        self._clock = clock
        self._stamp: tuple[int, int, int] | None = None
        self._checked = float("-inf")
        self._value = parse("")
        self.reload()

    def reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp:
                return
            text = self.path.read_text()
        except FileNotFoundError:
            if self._stamp is not None:
                log.info("{path} removed; no entries", path=str(self.path))
            self._stamp = None
            self._value = self._parse("")
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.error(
                "cannot read {path}: {exc}; keeping the old entries", path=str(self.path), exc=exc
            )
            return
        self._stamp = stamp
        self._value = self._parse(text)
        log.info("loaded {path}", path=str(self.path))

    def get(self) -> T:
        now = self._clock.seconds()
        if now - self._checked >= RECHECK_INTERVAL:
            self._checked = now
            self.reload()
        return self._value


@attrs.frozen
class Identity:
    name: str | None  # None = anonymous
    rights: frozenset[str]
    kind: str  # "anonymous", "user" or "token"


ANONYMOUS = Identity(None, frozenset(), "anonymous")


class AuthFailed(Exception):
    """401 (``code``) or 403, with a message for the client."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Authenticator:
    def __init__(
        self,
        users: WatchedFile[dict[str, User]],
        tokens: WatchedFile[dict[str, Token]],
        *,
        require_authentication: bool = False,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.require_authentication = require_authentication

    def reload(self) -> None:
        self.users.reload()
        self.tokens.reload()

    def check(self, authorization: str | None, access: frozenset[str]) -> Identity:
        """Who is calling, if they may use a handler with ``access``; else AuthFailed.

        As in Ganeti, credentials are checked when the handler needs a right, when the
        daemon requires authentication, or whenever the client sent them.
        """
        if not authorization:
            if access or self.require_authentication:
                raise AuthFailed(401, "Authentication required")
            return ANONYMOUS
        identity = self._authenticate(authorization)
        if access and not (identity.rights & access):
            raise AuthFailed(403, "Insufficient permissions")
        return identity

    def _authenticate(self, header: str) -> Identity:
        scheme, _, credentials = header.strip().partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthFailed(401, "Malformed Basic credentials") from None
            name, sep, password = decoded.partition(":")
            user = self.users.get().get(name) if sep else None
            if user is None or not user.check_password(password):
                raise AuthFailed(401, "Wrong user name or password")
            return Identity(name, user.options, "user")
        if scheme == "bearer":
            token = self.tokens.get().get(token_digest(credentials))
            if token is None:
                raise AuthFailed(401, "Unknown or revoked token")
            return Identity(token.name, ROLE_RIGHTS[token.role], "token")
        raise AuthFailed(401, f"Unsupported authentication scheme {scheme or '(none)'}")
