"""Running storage tools (``lvcreate``, ``qemu-img`` ...) without blocking the reactor.

Storage drivers take a :data:`CommandRunner`; production uses :class:`ProcessRunner`
(Twisted process spawning on an injected reactor), tests pass a recorder that answers
from a script of expected command lines.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import IReactorProcess, IReactorTime
from twisted.python.failure import Failure

from ganeti import errors

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@attrs.frozen
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    def check(self) -> CommandResult:
        """Raise BlockDeviceError unless the command succeeded."""
        if self.failed:
            detail = (self.stderr or self.stdout).strip().splitlines()[-3:]
            raise errors.BlockDeviceError(
                f"{' '.join(self.argv)} failed (exit {self.exit_code}): {' | '.join(detail)}"
            )
        return self


CommandRunner = Callable[[Sequence[str]], Awaitable[CommandResult]]


class _Collect(protocol.ProcessProtocol):
    def __init__(self, argv: tuple[str, ...], done: defer.Deferred[CommandResult]) -> None:
        self.argv = argv
        self.done = done
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        code = 0
        if isinstance(reason.value, error.ProcessTerminated):
            code = reason.value.exitCode if reason.value.exitCode is not None else -1
        if self.done.called:
            return
        self.done.callback(
            CommandResult(
                self.argv,
                code,
                b"".join(self.out).decode("utf-8", "replace"),
                b"".join(self.err).decode("utf-8", "replace"),
            )
        )


class ProcessRunner:
    """Runs a command with a clean environment; cancelling the Deferred kills it."""

    def __init__(
        self,
        reactor: Any,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 600.0,
    ) -> None:
        self._reactor: IReactorProcess = reactor
        self._clock: IReactorTime = reactor
        self._env = {"PATH": SAFE_PATH, "LC_ALL": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}
        self._env.update(env or {})
        self._timeout = timeout

    def __call__(self, argv: Sequence[str]) -> defer.Deferred[CommandResult]:
        args = tuple(argv)
        transport: list[Any] = []

        def cancel(_: defer.Deferred[CommandResult]) -> None:
            for t in transport:
                try:
                    t.signalProcess(signal.SIGKILL)
                except error.ProcessExitedAlready:
                    pass

        done: defer.Deferred[CommandResult] = defer.Deferred(cancel)
        proto = _Collect(args, done)
        try:
            t = self._reactor.spawnProcess(proto, args[0], args, env=dict(self._env), path="/")
        except OSError as exc:
            return defer.fail(errors.BlockDeviceError(f"cannot run {args[0]}: {exc}"))
        transport.append(t)
        if self._timeout is not None:
            call = self._clock.callLater(self._timeout, done.cancel)
            done.addBoth(_cancel_call, call)
        return done


def _cancel_call(result: Any, call: Any) -> Any:
    if call.active():
        call.cancel()
    return result


def which(name: str) -> str | None:
    for d in SAFE_PATH.split(":"):
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None
