"""A fake LUXI client and request helpers for the RAPI unit tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from ganeti import errors
from ganeti.rapi.app import RapiApp
from ganeti.rapi.auth import Authenticator, WatchedFile, add_token, parse_tokens, parse_users
from ganeti.rapi.auth import ha1 as _ha1
from ganeti.rapi.luxi import ILuxiClient


@implementer(ILuxiClient)
class FakeLuxi:
    """Answers like a master with nodes n1/n2, instances i1/i2, jobs 1 and 2."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.errors: dict[str, Exception] = {}
        self.job_result: Any = None
        self.job_status = "success"
        self.job_id = 42
        self.pending: list[Deferred[Any]] = []
        self.hold = False

    def call(self, method: str, args: list[Any]) -> Deferred[Any]:
        self.calls.append((method, args))
        if method in self.errors:
            return fail(self.errors[method])
        if self.hold:
            d: Deferred[Any] = Deferred()
            self.pending.append(d)
            return d
        try:
            return succeed(self._answer(method, args))
        except Exception as exc:
            return fail(exc)

    def last(self, method: str) -> list[Any]:
        for m, a in reversed(self.calls):
            if m == method:
                return a
        raise AssertionError(f"{method} was not called; calls: {self.calls}")

    def submitted(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = self.last("SubmitJob")[0]
        return ops

    @staticmethod
    def _value(field: str, name: str) -> Any:
        if field in ("name", "id"):
            return name
        if field == "role":
            return "C"
        if field == "beparams":
            return {"maxmem": 128, "minmem": 128, "vcpus": 1}
        if field == "tags":
            return []
        return None

    def _rows(self, names: list[str], fields: list[str], everything: list[str]) -> list[Any]:
        chosen = names or everything
        for n in chosen:
            if n.startswith("missing"):
                raise errors.OpPrereqError(f"{n} not known", errors.ECODE_NOENT)
        return [[self._value(f, n) for f in fields] for n in chosen]

    def _answer(self, method: str, args: list[Any]) -> Any:
        if method == "SubmitJob":
            return self.job_id
        if method == "QueryNodes":
            return self._rows(args[0], args[1], ["n1", "n2"])
        if method == "QueryInstances":
            return self._rows(args[0], args[1], ["i1", "i2"])
        if method == "QueryGroups":
            return self._rows(args[0], args[1], ["default"])
        if method == "QueryNetworks":
            return self._rows(args[0], args[1], ["net1"])
        if method == "QueryJobs":
            ids, fields = args
            if fields == ["status", "opresult"]:
                return [[self.job_status, [self.job_result]]]
            rows = []
            for job_id in ids or [2, 1]:
                if job_id == 404:
                    rows.append(None)
                    continue
                values = {"id": job_id, "status": "success", "ops": [], "opresult": [None]}
                rows.append([values.get(f) for f in fields])
            return rows
        if method == "WaitForJobChange":
            return [[self.job_status], [[1, [0, 0], "message", "hello"]]]
        if method == "CancelJob":
            return [True, f"Job {args[0]} canceled"]
        if method == "QueryTags":
            return ["a", "b"]
        if method == "QueryClusterInfo":
            return {
                "name": "cluster.test",
                "volume_group_name": "xenvg",
                "drbd_usermode_helper": "/bin/true",
            }
        if method == "QueryConfigValues":
            return [None for _ in args[0]]
        if method == "SetWatcherPause":
            return args[0]
        if method == "Query":
            return {"fields": [{"name": f} for f in args[1]], "data": []}
        if method == "QueryFields":
            return {"fields": []}
        if method in ("QueryFilters", "ReplaceFilter", "DeleteFilter"):
            raise errors.LuxiError(f"unknown LUXI method {method!r}")
        raise AssertionError(f"unexpected LUXI call {method}")


USERS = """\
# comment
reader {CLEARTEXT}rpw read
writer {HA1}%s write
plain plainpw
both bothpw read,write
"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


class Harness:
    """The app over a FakeLuxi with a users file and three tokens, in memory."""

    def __init__(self, tmp: str, require_authentication: bool = False) -> None:
        base = Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        self.users_path = base / "users"
        self.users_path.write_text(USERS % _ha1("writer", "wpw"))
        self.tokens_path = base / "tokens"
        self.tokens = {
            role: add_token(self.tokens_path, f"t-{role}", role)
            for role in ("read", "operator", "admin")
        }
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.auth = Authenticator(
            WatchedFile(self.users_path, parse_users, self.clock),
            WatchedFile(self.tokens_path, parse_tokens, self.clock),
            require_authentication=require_authentication,
        )
        self.luxi = FakeLuxi()
        self.rapi = RapiApp(self.luxi, self.auth, self.clock)
        self.treq = StubTreq(self.rapi.resource())

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str | None = "application/json",
        auth: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = dict(headers or {})
        if auth is None:
            auth = basic("writer", "wpw")
        hdrs.update(auth)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        out: list[Any] = []
        d = self.treq.request(method, "http://rapi.test" + path, headers=hdrs, data=data)
        d.addCallback(lambda r: self.treq.content(r).addCallback(lambda c: out.append((r, c))))
        d.addErrback(out.append)
        self.treq.flush()
        assert len(out) == 1, "request did not finish"
        if not isinstance(out[0], tuple):
            out[0].raiseException()
        response, content = out[0]
        parsed = json.loads(content) if content else None
        return response.code, parsed, response
