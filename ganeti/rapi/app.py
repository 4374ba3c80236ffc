"""The Klein application: routing, access checks, body decoding, JSON answers, errors.

Each path is one Klein route that accepts any method; the method is looked up in the
route table here, so that a method a resource lacks gets Ganeti's 501 rather than
Klein's 405.  Path variables are checked against Ganeti's name patterns (404 if they do
not match).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import NotFound

from ganeti import errors
from ganeti.rapi import htools_resources as _htools  # noqa: F401  (htools extensions)
from ganeti.rapi import resources as _resources  # noqa: F401  (declares the routes)
from ganeti.rapi.auth import REALM, Authenticator, AuthFailed
from ganeti.rapi.base import PATH_VARS, ROUTES, Call, HttpError, Route, error_for
from ganeti.rapi.luxi import ILuxiClient
from ganeti.rapi.resources import Resources

log = Logger()

MAX_BODY = 10 * 1024 * 1024
JSON_TYPE = b"application/json"


def encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # Integers beyond 64 bits and other rarities: the standard encoder copes.
        return (json.dumps(value) + "\n").encode()


def _decode_query(request: IRequest) -> dict[str, list[str]]:
    args: dict[bytes, list[bytes]] = getattr(request, "args", None) or {}
    try:
        return {k.decode(): [v.decode() for v in vs] for k, vs in args.items()}
    except UnicodeDecodeError:
        raise HttpError(400, "Query string is not valid UTF-8") from None


def _decode_body(request: IRequest) -> Any:
    length = request.getHeader(b"content-length")
    if length is not None:
        try:
            if int(length) > MAX_BODY:
                raise HttpError(413, f"Request body larger than {MAX_BODY} bytes")
        except ValueError:
            raise HttpError(400, "Invalid Content-Length") from None
    content = request.content
    raw = content.read() if content is not None else b""
    if not raw:
        return None
    if len(raw) > MAX_BODY:
        raise HttpError(413, f"Request body larger than {MAX_BODY} bytes")
    ctype = (request.getHeader(b"content-type") or b"").split(b";", 1)[0].strip().lower()
    if ctype != JSON_TYPE:
        raise HttpError(415, "Unsupported Media Type: the body must be application/json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HttpError(400, f"Unable to parse JSON data: {exc}") from None


def _sized(request: IRequest, data: bytes) -> bytes:
    # An explicit length keeps Twisted from using chunked encoding for deferred answers.
    request.setHeader(b"content-length", str(len(data)).encode())
    return data


class RapiApp:
    """The RAPI version 2 application over a LUXI client."""

    def __init__(
        self,
        luxi: ILuxiClient,
        auth: Authenticator,
        clock: IReactorTime,
        routes: list[Route] | None = None,
        runner: Callable[..., Deferred[Any]] | None = None,
    ) -> None:
        self.luxi = luxi
        self.auth = auth
        self.clock = clock
        self.resources = Resources(luxi, clock, runner)
        self.routes = list(ROUTES if routes is None else routes)
        self.app = Klein()
        table: dict[str, dict[str, Route]] = defaultdict(dict)
        for r in self.routes:
            if r.method in table[r.path]:
                raise errors.ProgrammerError(f"route {r.method} {r.path} declared twice")
            table[r.path][r.method] = r
        self.table = dict(table)
        for path, methods in self.table.items():
            self._add(path, methods)
        self.app.route("/2/openapi.json", endpoint="openapi")(self._openapi)
        self.app.handle_errors(NotFound)(self._not_found)
        self._openapi_doc: bytes | None = None

    def resource(self) -> Any:
        return self.app.resource()

    def _add(self, path: str, methods: dict[str, Route]) -> None:
        def handler(request: IRequest, **kwargs: str) -> Deferred[bytes]:
            return self._dispatch(request, methods, {k[2:]: v for k, v in kwargs.items()})

        # Prefixed variable names: Klein's own wrapper takes an argument named "instance".
        klein_path = re.sub(r"<(\w+)>", r"<v_\1>", path)
        self.app.route(klein_path, endpoint=f"rapi:{path}", strict_slashes=False)(handler)

    # --- requests ----------------------------------------------------------------------

    def _dispatch(
        self, request: IRequest, methods: dict[str, Route], kwargs: dict[str, str]
    ) -> Deferred[bytes]:
        d = Deferred.fromCoroutine(self._handle(request, methods, kwargs))
        request.notifyFinish().addErrback(lambda _: d.cancel())  # type: ignore[attr-defined]
        return d

    async def _handle(
        self, request: IRequest, methods: dict[str, Route], kwargs: dict[str, str]
    ) -> bytes:
        request.setHeader(b"content-type", JSON_TYPE)
        try:
            method = request.method.decode("ascii", "replace")
            r = methods.get(method)
            if r is None:
                raise HttpError(501, f"Method {method} is unsupported")
            for var, value in kwargs.items():
                pattern = PATH_VARS.get(var)
                if pattern is not None and not pattern.match(value):
                    raise HttpError(404, f"Invalid {var} {value!r}")
            header = request.getHeader(b"authorization")
            try:
                identity = self.auth.check(header.decode("latin-1") if header else None, r.access)
            except AuthFailed as exc:
                headers = []
                if exc.code == 401:
                    headers.append((b"www-authenticate", f'Basic realm="{REALM}"'.encode()))
                raise HttpError(exc.code, exc.message, headers) from None
            body = _decode_body(request)
            if r.body_required and body is None:
                raise HttpError(400, "This resource needs a JSON request body")
            call = Call(r, dict(kwargs), _decode_query(request), body, identity.name)
            result = await r.handler(self.resources, call)
            return _sized(request, encode(result))
        except HttpError as exc:
            return self._error(request, exc)
        except errors.GanetiError as exc:
            return self._error(request, error_for(exc))
        except CancelledError:
            raise  # the client went away; nobody to answer
        except Exception:
            log.failure(
                "unexpected error handling {method} {uri}",
                Failure(),
                method=request.method,
                uri=request.uri,
            )
            return self._error(request, HttpError(500, "Internal error; see the daemon log"))

    @staticmethod
    def _error(request: IRequest, exc: HttpError) -> bytes:
        request.setResponseCode(exc.code)
        request.setHeader(b"content-type", JSON_TYPE)
        for name, value in exc.headers:
            request.setHeader(name, value)
        return _sized(request, encode(exc.body()))

    def _not_found(self, request: IRequest, failure: Failure) -> bytes:
        return self._error(request, HttpError(404, "Nothing at this path"))

    def _openapi(self, request: IRequest) -> bytes:
        from ganeti.rapi.openapi import openapi_document

        if request.method not in (b"GET", b"HEAD"):
            return self._error(request, HttpError(501, "Method is unsupported"))
        if self._openapi_doc is None:
            self._openapi_doc = encode(openapi_document(self.routes))
        request.setHeader(b"content-type", JSON_TYPE)
        return _sized(request, self._openapi_doc)
