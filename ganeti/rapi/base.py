"""The pieces every RAPI resource uses: the route table, request arguments, HTTP errors.

A route is declared once, with everything the daemon, the access check and the OpenAPI
document need: path, method, access list, query parameters and body kind.  Handlers get
a :class:`Call` and return a JSON-able value.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import attrs

from ganeti import errors
from ganeti.rapi.auth import OPERATOR, READ, WRITE

# Access lists (Ganeti's semantics: empty = anonymous allowed).
ANON: frozenset[str] = frozenset()
W: frozenset[str] = frozenset({WRITE})
RW: frozenset[str] = frozenset({READ, WRITE})
# Operator tokens may use these besides write users.
OPS: frozenset[str] = frozenset({WRITE, OPERATOR})
RWO: frozenset[str] = frozenset({READ, WRITE, OPERATOR})

NAME_RE = re.compile(r"^[\w._-]+$")
JOB_ID_RE = re.compile(r"^\d+$")
INDEX_RE = re.compile(r"^\d+$")
UUID_RE = re.compile(r"^[0-9a-fA-F-]+$")

# Path variables and the pattern their value must match (else 404).
PATH_VARS: Mapping[str, re.Pattern[str]] = {
    "name": NAME_RE,
    "instance": NAME_RE,
    "node": NAME_RE,
    "group": NAME_RE,
    "network": NAME_RE,
    "os": re.compile(r"^[\w.+_-]+$"),
    "resource": NAME_RE,
    "job_id": JOB_ID_RE,
    "disk": INDEX_RE,
    "uuid": UUID_RE,
}


class HttpError(Exception):
    """An error answer: ``{"code", "message", "explain"}`` with this status."""

    def __init__(self, code: int, message: str | None = None, headers: Sequence[Any] = ()) -> None:
        status = HTTPStatus(code)
        super().__init__(message or status.phrase)
        self.code = code
        self.message = message or status.phrase
        self.explain = status.description
        self.headers = list(headers)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "explain": self.explain}


def bad_request(message: str) -> HttpError:
    return HttpError(400, message)


@attrs.frozen
class QueryParam:
    name: str
    kind: str = "bool"  # bool (0/1), string, int, float, list (repeatable), csv (comma list)
    doc: str = ""
    required: bool = False
    enum: tuple[str, ...] = ()


DRY_RUN = QueryParam("dry-run", doc="only check prerequisites (opcode dry_run)")
FORCE = QueryParam("force", doc="opcode force")
BULK = QueryParam("bulk", doc="return full objects instead of id/uri pairs")
REASON = QueryParam("reason", "string", doc="reason recorded in the opcode reason trail")
TAG = QueryParam("tag", "list", doc="a tag (repeatable)")
COMMON_QUERY = (REASON,)


@attrs.frozen
class Route:
    path: str  # Klein syntax: /2/instances/<instance>
    method: str
    handler: Callable[..., Awaitable[Any]]
    access: frozenset[str]
    summary: str
    query: tuple[QueryParam, ...] = ()
    # none | object | string | any (any JSON value); required if body_required
    body: str = "none"
    body_required: bool = False
    returns: str = "any"  # job | any | null | list | object | string | int
    extension: bool = False  # not in Ganeti's RAPI

    @property
    def path_vars(self) -> list[str]:
        return re.findall(r"<(\w+)>", self.path)

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(\w+)>", r"{\1}", self.path)


ROUTES: list[Route] = []


def route(
    path: str,
    method: str,
    *,
    access: frozenset[str] | None = None,
    summary: str,
    query: Sequence[QueryParam] = (),
    body: str = "none",
    body_required: bool = False,
    returns: str = "job",
    extension: bool = False,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Declare a handler; default access is anonymous for GET and write otherwise."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        acc = access if access is not None else (ANON if method == "GET" else W)
        ROUTES.append(
            Route(
                path,
                method,
                fn,
                acc,
                summary,
                (*query, *COMMON_QUERY),
                body,
                body_required,
                returns,
                extension,
            )
        )
        return fn

    return deco


@attrs.define
class Call:
    """One request as a handler sees it."""

    route: Route
    vars: dict[str, str]
    query: dict[str, list[str]]
    body: Any  # decoded JSON, or None when the request had no body
    user: str | None = None

    def has(self, name: str) -> bool:
        return name in self.query

    def str_arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        if not values:
            return default
        return values[0]

    def req_str(self, name: str) -> str:
        value = self.str_arg(name)
        if not value:
            raise bad_request(f"Missing the required '{name}' parameter")
        return value

    def bool_arg(self, name: str, default: bool = False) -> bool:
        """Ganeti's boolean query arguments: integers only (``1``, ``0``)."""
        value = self.str_arg(name)
        if value is None or value == "":
            return default
        try:
            return bool(int(value))
        except ValueError:
            raise bad_request(f"Invalid value for parameter '{name}': {value!r}") from None

    def opt_bool(self, name: str) -> bool | None:
        return self.bool_arg(name) if self.str_arg(name) not in (None, "") else None

    def list_arg(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    @property
    def dry_run(self) -> bool:
        return self.bool_arg("dry-run")

    @property
    def bulk(self) -> bool:
        return self.bool_arg("bulk")

    def body_dict(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise bad_request("Invalid body contents, not a dictionary")
        return dict(self.body)


def error_for(exc: BaseException) -> HttpError:
    """The HTTP answer for an error from the master (or from building an opcode)."""
    from ganeti.rapi.luxi import LuxiTimeout, MasterUnreachable

    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, errors.OpPrereqError):
        code = 404 if exc.ecode == errors.ECODE_NOENT else 400
        if exc.ecode == errors.ECODE_TEMP_NORES:
            code = 503
        return HttpError(code, str(exc))
    if isinstance(exc, errors.JobLost):
        return HttpError(404, str(exc) or "Job not found")
    if isinstance(exc, errors.JobQueueDrainError | errors.JobQueueError):
        return HttpError(503, str(exc))
    if isinstance(exc, errors.ParameterError | errors.QueryFilterParseError | errors.OpCodeUnknown):
        return HttpError(400, str(exc))
    if isinstance(exc, LuxiTimeout):
        return HttpError(504, str(exc))
    if isinstance(exc, MasterUnreachable):
        return HttpError(502, str(exc))
    if isinstance(exc, errors.LuxiError):
        return HttpError(502, f"LUXI error: {exc}")
    if isinstance(exc, errors.GanetiError):
        return HttpError(500, f"{type(exc).__name__}: {exc}")
    return HttpError(500, "Internal error")
