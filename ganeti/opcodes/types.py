"""A small declarative type system for opcode parameters.

Each type is an immutable value with ``check(value)``, which raises
:class:`TypeMismatch` with a short description of what was expected.  Values are the
JSON shapes opcodes travel in (lists, not tuples; dicts with string keys), so a
validated opcode can be written to a job file unchanged.  Types compose:
``list_of(maybe(NON_EMPTY_STRING))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from attrs import field, frozen


class TypeMismatch(Exception):
    """A value does not have the expected type; the message says what was expected."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@frozen
class PType:
    """Base of all parameter types."""

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        try:
            self.check(value)
        except TypeMismatch:
            return False
        return True

    def describe(self) -> str:
        raise NotImplementedError

    def _fail(self, value: Any) -> TypeMismatch:
        return TypeMismatch(f"expected {self.describe()}, got {_show(value)}")


@frozen
class _Anything(PType):
    def check(self, value: Any) -> None:
        return None

    def describe(self) -> str:
        return "any value"


@frozen
class _Bool(PType):
    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise self._fail(value)

    def describe(self) -> str:
        return "a boolean"


@frozen
class Number(PType):
    """An int (or also a float when ``floats``), optionally bounded; never a bool."""

    floats: bool = False
    minimum: float | None = None
    maximum: float | None = None
    what: str = ""

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (self.floats and isinstance(value, float))
        ):
            raise self._fail(value)
        if self.minimum is not None and value < self.minimum:
            raise self._fail(value)
        if self.maximum is not None and value > self.maximum:
            raise self._fail(value)

    def describe(self) -> str:
        if self.what:
            return self.what
        base = "a number" if self.floats else "an integer"
        if self.minimum is not None and self.maximum is not None:
            return f"{base} in [{self.minimum:g}, {self.maximum:g}]"
        if self.minimum is not None:
            return f"{base} >= {self.minimum:g}"
        return base


@frozen
class String(PType):
    non_empty: bool = False
    pattern: Callable[[str], bool] | None = field(default=None, eq=False)
    what: str = ""

    def check(self, value: Any) -> None:
        if not isinstance(value, str) or (self.non_empty and not value):
            raise self._fail(value)
        if self.pattern is not None and not self.pattern(value):
            raise self._fail(value)

    def describe(self) -> str:
        if self.what:
            return self.what
        return "a non-empty string" if self.non_empty else "a string"


@frozen
class Enum(PType):
    values: tuple[Any, ...]

    def check(self, value: Any) -> None:
        # bool is an int: keep True from matching 1.
        if isinstance(value, bool) and not any(isinstance(v, bool) for v in self.values):
            raise self._fail(value)
        if not any(value == v and type(value) is type(v) for v in self.values):
            raise self._fail(value)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@frozen
class Maybe(PType):
    inner: PType

    def check(self, value: Any) -> None:
        if value is not None:
            self.inner.check(value)

    def describe(self) -> str:
        return f"null or {self.inner.describe()}"


@frozen
class Or(PType):
    choices: tuple[PType, ...]

    def check(self, value: Any) -> None:
        if not any(c.accepts(value) for c in self.choices):
            raise self._fail(value)

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.choices)


@frozen
class ListOf(PType):
    item: PType
    non_empty: bool = False

    def check(self, value: Any) -> None:
        if not isinstance(value, list | tuple) or (self.non_empty and not value):
            raise self._fail(value)
        for index, item in enumerate(value):
            try:
                self.item.check(item)
            except TypeMismatch as exc:
                raise TypeMismatch(f"item {index}: {exc}") from None

    def describe(self) -> str:
        return f"a {'non-empty ' if self.non_empty else ''}list of ({self.item.describe()})"


@frozen
class Tuple(PType):
    """A fixed-length list whose items have the given types."""

    items: tuple[PType, ...]

    def check(self, value: Any) -> None:
        if not isinstance(value, list | tuple) or len(value) != len(self.items):
            raise self._fail(value)
        for index, (kind, item) in enumerate(zip(self.items, value, strict=True)):
            try:
                kind.check(item)
            except TypeMismatch as exc:
                raise TypeMismatch(f"item {index}: {exc}") from None

    def describe(self) -> str:
        return "[" + ", ".join(i.describe() for i in self.items) + "]"


@frozen
class DictOf(PType):
    value: PType

    def check(self, value: Any) -> None:
        # Keys are strings: these are JSON objects.
        if not isinstance(value, dict):
            raise self._fail(value)
        for key, item in value.items():
            try:
                if not isinstance(key, str):
                    raise TypeMismatch("keys must be strings")
                self.value.check(item)
            except TypeMismatch as exc:
                raise TypeMismatch(f"key {_show(key)}: {exc}") from None

    def describe(self) -> str:
        return f"a dict of ({self.value.describe()})"


@frozen
class Custom(PType):
    """An escape hatch: ``inner`` plus a predicate over the whole value."""

    inner: PType
    predicate: Callable[[Any], bool] = field(eq=False)
    what: str

    def check(self, value: Any) -> None:
        self.inner.check(value)
        if not self.predicate(value):
            raise self._fail(value)

    def describe(self) -> str:
        return self.what


ANY = _Anything()
BOOL = _Bool()
INT = Number()
NON_NEG_INT = Number(minimum=0, what="a non-negative integer")
POSITIVE_INT = Number(minimum=1, what="a positive integer")
NUMBER = Number(floats=True)
NON_NEG_NUMBER = Number(floats=True, minimum=0, what="a non-negative number")
STRING = String()
NON_EMPTY_STRING = String(non_empty=True)
DICT = DictOf(ANY)
DICT_OF_DICTS = DictOf(DICT)
STRING_LIST = ListOf(NON_EMPTY_STRING)
LIST = ListOf(ANY)


def maybe(inner: PType) -> PType:
    return Maybe(inner)


def list_of(item: PType, *, non_empty: bool = False) -> PType:
    return ListOf(item, non_empty)


def dict_of(value: PType) -> PType:
    return DictOf(value)


def one_of(values: Iterable[Any]) -> PType:
    return Enum(tuple(values))


def either(*choices: PType) -> PType:
    return Or(tuple(choices))


def tuple_of(*items: PType) -> PType:
    return Tuple(tuple(items))


def int_range(lo: int, hi: int) -> PType:
    return Number(minimum=lo, maximum=hi)
