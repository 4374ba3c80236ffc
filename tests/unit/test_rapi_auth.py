"""The RAPI access matrix: anonymous, users with read/write/none, tokens by role."""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti.rapi.auth import add_token, parse_tokens, parse_users, remove_token
from tests.unit.test_rapi_fakes import Harness, basic, bearer

ANON_GET = ("GET", "/2/info", None)
WRITE_PUT = ("PUT", "/2/redistribute-config", None)
QUERY = ("GET", "/2/query/node?fields=name", None)
STORAGE = ("GET", "/2/nodes/n1/storage?output_fields=name", None)
WAIT = ("GET", "/2/jobs/1/wait", '{"fields": ["status"]}')
CONSOLE = ("GET", "/2/instances/i1/console", None)
STARTUP = ("PUT", "/2/instances/i1/startup", None)
CANCEL = ("DELETE", "/2/jobs/1", None)


class AuthMatrixTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self.mktemp())
        self.h.luxi.job_result = {"instance": "i1", "kind": "msg", "message": "hi"}

    def status(self, req: tuple[str, str, object], auth: dict[str, str]) -> int:
        method, path, body = req
        raw = body.encode() if isinstance(body, str) else None
        code, _, response = self.h.request(method, path, raw=raw, auth=auth)
        if code == 401:
            self.assertEqual(
                response.headers.getRawHeaders("www-authenticate"),
                ['Basic realm="Ganeti Remote API"'],
            )
        return code

    def check(self, auth: dict[str, str], expected: dict[tuple[str, str, object], int]) -> None:
        got = {req[:2]: self.status(req, auth) for req in expected}
        self.assertEqual(got, {req[:2]: code for req, code in expected.items()}, auth)

    def test_anonymous(self) -> None:
        self.check(
            {},
            {
                ANON_GET: 200,
                WRITE_PUT: 401,
                QUERY: 401,
                STORAGE: 401,
                WAIT: 401,
                CONSOLE: 401,
                STARTUP: 401,
                CANCEL: 401,
            },
        )

    def test_read_user(self) -> None:
        self.check(
            basic("reader", "rpw"),
            {
                ANON_GET: 200,
                WRITE_PUT: 403,
                QUERY: 200,
                STORAGE: 403,
                WAIT: 403,
                CONSOLE: 200,
                STARTUP: 403,
            },
        )

    def test_write_user_with_ha1(self) -> None:
        self.check(
            basic("writer", "wpw"),
            {
                ANON_GET: 200,
                WRITE_PUT: 200,
                QUERY: 200,
                STORAGE: 200,
                WAIT: 200,
                CONSOLE: 200,
                STARTUP: 200,
                CANCEL: 200,
            },
        )

    def test_user_without_options(self) -> None:
        # Passes anonymous URLs, but /2/query and console need read or write.
        self.check(
            basic("plain", "plainpw"), {ANON_GET: 200, QUERY: 403, CONSOLE: 403, WRITE_PUT: 403}
        )

    def test_wrong_password_on_anonymous_url_is_401(self) -> None:
        self.check(basic("writer", "nope"), {ANON_GET: 401, WRITE_PUT: 401})
        self.check(basic("nobody", "x"), {ANON_GET: 401})
        self.check({"Authorization": "Basic !!!"}, {ANON_GET: 401})
        self.check({"Authorization": "Digest username=x"}, {ANON_GET: 401})

    def test_tokens_by_role(self) -> None:
        t = self.h.tokens
        self.check(
            bearer(t["read"]),
            {ANON_GET: 200, QUERY: 200, CONSOLE: 200, STARTUP: 403, WAIT: 403, WRITE_PUT: 403},
        )
        self.check(
            bearer(t["operator"]),
            {
                ANON_GET: 200,
                QUERY: 200,
                STARTUP: 200,
                WAIT: 200,
                CANCEL: 200,
                CONSOLE: 200,
                WRITE_PUT: 403,
                STORAGE: 403,
            },
        )
        self.check(bearer(t["admin"]), {WRITE_PUT: 200, STORAGE: 200, STARTUP: 200, QUERY: 200})
        self.check(bearer("gnt_wrong"), {ANON_GET: 401})

    def test_operator_cannot_create_or_remove_instances(self) -> None:
        auth = bearer(self.h.tokens["operator"])
        code, _, _ = self.h.request("DELETE", "/2/instances/i1", auth=auth)
        self.assertEqual(code, 403)
        code, _, _ = self.h.request("POST", "/2/instances", {"__version__": 1}, auth=auth)
        self.assertEqual(code, 403)

    def test_require_authentication(self) -> None:
        h = Harness(self.mktemp(), require_authentication=True)
        code, _, _ = h.request("GET", "/2/info", auth={})
        self.assertEqual(code, 401)
        code, _, _ = h.request("GET", "/2/info", auth=basic("plain", "plainpw"))
        self.assertEqual(code, 200)

    def test_users_file_reloaded_on_change(self) -> None:
        self.assertEqual(self.status(WRITE_PUT, basic("writer", "wpw")), 200)
        self.h.users_path.write_text("newuser {CLEARTEXT}pw write\n")
        os.utime(self.h.users_path, ns=(1, 1))  # a different stamp for sure
        # Within the recheck interval the old file still counts.
        self.assertEqual(self.status(WRITE_PUT, basic("writer", "wpw")), 200)
        self.h.clock.advance(1.5)
        self.assertEqual(self.status(WRITE_PUT, basic("writer", "wpw")), 401)
        self.assertEqual(self.status(WRITE_PUT, basic("newuser", "pw")), 200)

    def test_reload_now_and_missing_file(self) -> None:
        self.h.users_path.unlink()
        self.h.auth.reload()
        self.assertEqual(self.status(WRITE_PUT, basic("writer", "wpw")), 401)

    def test_token_revocation(self) -> None:
        self.assertTrue(remove_token(self.h.tokens_path, "t-admin"))
        self.assertFalse(remove_token(self.h.tokens_path, "t-admin"))
        self.h.auth.reload()
        self.assertEqual(self.status(WRITE_PUT, bearer(self.h.tokens["admin"])), 401)


class ParsingTests(SynchronousTestCase):
    def test_users_file(self) -> None:
        users = parse_users(
            "# c\n\nA {cleartext}x read,write\nB {ha1}ABC\nC plain read,bogus\nbad\n"
        )
        self.assertEqual(sorted(users), ["A", "B", "C"])
        self.assertEqual(users["A"].options, frozenset({"read", "write"}))
        self.assertTrue(users["A"].check_password("x"))
        self.assertFalse(users["B"].check_password("x"))
        self.assertEqual(users["C"].options, frozenset({"read"}))
        self.assertTrue(users["C"].check_password("plain"))
        self.assertFalse(parse_users("D {SHA}zzz\n")["D"].check_password("zzz"))

    def test_tokens_are_stored_hashed(self) -> None:
        from pathlib import Path

        path = Path(self.mktemp())
        token = add_token(path, "ci", "operator")
        text = path.read_text()
        self.assertNotIn(token, text)
        self.assertEqual(oct(path.stat().st_mode & 0o777), "0o600")
        tokens = parse_tokens(text)
        self.assertEqual([t.name for t in tokens.values()], ["ci"])
        again = add_token(path, "ci", "admin")  # replaces
        self.assertNotEqual(token, again)
        self.assertEqual([t.role for t in parse_tokens(path.read_text()).values()], ["admin"])
        with self.assertRaises(ValueError):
            add_token(path, "x", "root")
