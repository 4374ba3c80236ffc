"""A blocking LUXI client for command-line tools.

CLI commands are short-lived and sequential; a plain socket is the fastest way in and
keeps the reactor out of them.  (The RAPI daemon, which lives in a reactor, uses its own
asynchronous client.)
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from ganeti import errors
from ganeti.luxi import protocol as proto

CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 180.0


class LuxiClient:
    def __init__(self, address: Path | str, timeout: float = READ_TIMEOUT) -> None:
        self.address = str(address)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._framer = proto.Framer()
        self._ready: list[bytes] = []

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            try:
                sock.connect(self.address)
            except FileNotFoundError:
                sock.close()
                raise errors.LuxiError(
                    f"master daemon socket {self.address} does not exist: is the master "
                    "running on this node (and GANETI_ROOT right)?"
                ) from None
            except OSError as exc:
                sock.close()
                raise errors.LuxiError(
                    f"cannot connect to the master daemon at {self.address}: {exc.strerror}"
                ) from None
            sock.settimeout(self._timeout)
            self._sock = sock
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> LuxiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *args: Any) -> Any:
        sock = self._connect()
        try:
            sock.sendall(proto.encode_request(method, list(args)))
            while not self._ready:
                data = sock.recv(65536)
                if not data:
                    self.close()
                    raise errors.LuxiError("the master daemon closed the connection")
                self._ready.extend(self._framer.feed(data))
        except TimeoutError:
            self.close()
            raise errors.LuxiError(f"no answer from the master daemon to {method}") from None
        except OSError as exc:
            self.close()
            raise errors.LuxiError(f"talking to the master daemon: {exc}") from None
        return proto.parse_reply(self._ready.pop(0))

    # Convenience wrappers with Ganeti's argument order.
    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        return int(self.call(proto.REQ_SUBMIT_JOB, ops))

    def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> list[Any]:
        result: list[Any] = self.call(proto.REQ_SUBMIT_MANY_JOBS, jobs)
        return result

    def wait_for_job_change(
        self,
        job_id: int,
        fields: list[str],
        prev_job_info: Any,
        prev_log_serial: int | None,
        timeout: float,
    ) -> Any:
        return self.call(
            proto.REQ_WAIT_FOR_JOB_CHANGE, job_id, fields, prev_job_info, prev_log_serial, timeout
        )

    def query(self, what: str, fields: list[str], qfilter: Any = None) -> Any:
        return self.call(proto.REQ_QUERY, what, fields, qfilter)

    def query_jobs(self, job_ids: list[int] | None, fields: list[str]) -> Any:
        return self.call(proto.REQ_QUERY_JOBS, job_ids, fields)
