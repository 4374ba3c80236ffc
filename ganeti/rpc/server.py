"""The node daemon's HTTP resource: decode a call, run the handler, encode the reply.

Wire format (Ganeti's): ``POST /<procedure>`` with a JSON list of positional arguments;
HTTP 200 with ``[true, payload]`` or ``[false, message]``.  Transport-level refusals use
HTTP statuses: 400 for anything but POST or a malformed body, 403 for a caller that is
not allowed, 404 for an unknown procedure.  No decisions live here: handlers come from
the node backend, authorisation from an injected check.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from twisted.web.iweb import IRequest

from ganeti import errors, serializer
from ganeti.rpc import procedures

log = Logger()

Handler = Callable[..., Any | Awaitable[Any]]
# Returns None when the caller may proceed, else the reason it may not.
Authorizer = Callable[[IRequest], str | None]


class HandlerError(Exception):
    """Raised by a handler to fail with a plain message (no traceback logged)."""


def _allow_all(request: IRequest) -> str | None:
    return None


class NodeRpcResource(resource.Resource):
    isLeaf = True

    def __init__(self, handlers: Mapping[str, Handler], authorize: Authorizer = _allow_all) -> None:
        super().__init__()
        unknown = set(handlers) - set(procedures.PROCEDURES)
        if unknown:
            raise errors.ProgrammerError(f"handlers for unknown procedures: {sorted(unknown)}")
        self._handlers = dict(handlers)
        self._authorize = authorize

    def _error(self, request: server.Request, code: int, message: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json")
        return serializer.dump_json({"code": code, "message": message}).encode("utf-8")

    def render(self, request: server.Request) -> bytes | int:
        if request.method != b"POST":
            return self._error(request, 400, "only POST is supported")
        reason = self._authorize(request)
        if reason is not None:
            log.warn(
                "refused RPC from {peer}: {reason}", peer=request.getClientAddress(), reason=reason
            )
            return self._error(request, 403, reason)
        name = (request.path or b"/").decode("utf-8", "replace").strip("/")
        handler = self._handlers.get(name)
        if handler is None:
            return self._error(request, 404, f"unknown procedure {name!r}")
        assert request.content is not None
        try:
            args = serializer.load_json(request.content.read(), what="request body")
        except errors.GanetiError as exc:
            return self._error(request, 400, str(exc))
        if not isinstance(args, list):
            return self._error(request, 400, "request body must be a JSON list of arguments")
        expected = procedures.PROCEDURES[name].args
        if len(args) != len(expected):
            return self._error(
                request, 400, f"{name} takes {len(expected)} arguments, got {len(args)}"
            )

        d: defer.Deferred[Any] = defer.maybeDeferred(handler, *args)
        d.addCallback(_to_deferred)
        d.addCallbacks(lambda payload: [True, payload], lambda f: _failure_reply(name, f))
        finished = request.notifyFinish()
        # A client that hangs up cancels the work it asked for.
        finished.addErrback(lambda _: d.cancel())

        def write(reply: list[Any]) -> None:
            if finished.called:
                return
            request.setHeader(b"Content-Type", b"application/json")
            try:
                body = serializer.dump_json(reply).encode("utf-8")
            except (TypeError, ValueError) as exc:
                body = serializer.dump_json([False, f"unserialisable result: {exc}"]).encode()
            request.write(body)
            request.finish()

        d.addCallback(write)
        d.addErrback(lambda f: log.failure("writing RPC reply for {name}", f, name=name))
        return server.NOT_DONE_YET


def _to_deferred(value: Any) -> Any:
    if inspect.iscoroutine(value):
        return defer.Deferred.fromCoroutine(value)
    return value


def _failure_reply(name: str, failure: Failure) -> list[Any]:
    exc = failure.value
    if isinstance(exc, defer.CancelledError):
        return [False, f"{name} was cancelled"]
    if isinstance(exc, HandlerError | errors.GanetiError):
        return [False, str(exc)]
    log.failure("RPC handler {name} raised", failure, name=name)
    return [False, f"{name} failed: {type(exc).__name__}: {exc}"]
