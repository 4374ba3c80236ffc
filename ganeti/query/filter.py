"""Compiling Query2 filters (JSON prefix notation) into predicates.

Grammar (spec §1.6)::

    ["|", f...]  ["&", f...]  ["!", f]  ["?", field]
    [op, field, value]   op in == (= legacy) != < > <= >= =~ =[]

A filter is checked completely when compiled -- operators, arity, field names, value
types against the field kind, regular expressions -- so evaluation cannot fail and a
malformed filter is reported before any data is gathered.

Evaluation: a field whose value is not present (status other than RS_NORMAL) makes every
comparison on it false, including ``?``; ``!`` is plain negation, so ``["!", f]`` always
selects exactly the items ``f`` rejects.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ganeti import constants, errors
from ganeti.query.base import FieldDef, QueryData, Status

Predicate = Callable[[QueryData, Any], bool]

_LOGIC = ("&", "|")
_NUMERIC_KINDS = frozenset(
    {constants.QFT_NUMBER, constants.QFT_FLOAT, constants.QFT_UNIT, constants.QFT_TIMESTAMP}
)
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
BINARY_OPS = frozenset({"==", "=", "!=", "=~", "=[]", *_ORDERING})
ALL_OPS = frozenset({*_LOGIC, "!", "?", *BINARY_OPS})


def _fail(msg: str) -> errors.QueryFilterParseError:
    return errors.QueryFilterParseError(msg)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class FilterCompiler:
    """Compiles filters against one resource's fields; records the fields used."""

    def __init__(self, fields: Mapping[str, FieldDef]) -> None:
        self.fields = fields
        self.used: list[str] = []

    def compile(self, qfilter: Any) -> Predicate:
        return self._node(qfilter, "filter")

    # -- structure ----------------------------------------------------------------------

    def _node(self, node: Any, where: str) -> Predicate:
        if not isinstance(node, list | tuple) or not node:
            raise _fail(f"{where}: expected a non-empty list [operator, ...], got {node!r}")
        op, args = node[0], list(node[1:])
        if not isinstance(op, str) or op not in ALL_OPS:
            raise _fail(f"{where}: unknown operator {op!r}")
        if op in _LOGIC:
            subs = [
                self._node(arg, f"{where} '{op}' operand {i + 1}") for i, arg in enumerate(args)
            ]
            if op == "&":
                return lambda qd, item: all(sub(qd, item) for sub in subs)
            return lambda qd, item: any(sub(qd, item) for sub in subs)
        if op == "!":
            self._arity(op, args, 1, where)
            sub = self._node(args[0], f"{where} '!' operand")
            return lambda qd, item: not sub(qd, item)
        if op == "?":
            self._arity(op, args, 1, where)
            getter = self._field(args[0], where).getter
            return lambda qd, item: _present(value := getter(qd, item)) and bool(value)
        self._arity(op, args, 2, where)
        return self._binary(op, self._field(args[0], where), args[1], where)

    @staticmethod
    def _arity(op: str, args: list[Any], count: int, where: str) -> None:
        if len(args) != count:
            plural = "operand" if count == 1 else "operands"
            raise _fail(f"{where}: operator {op!r} takes {count} {plural}, got {len(args)}")

    def _field(self, name: Any, where: str) -> FieldDef:
        if not isinstance(name, str):
            raise _fail(f"{where}: field name must be a string, got {name!r}")
        fdef = self.fields.get(name)
        if fdef is None:
            raise _fail(f"{where}: unknown field {name!r}")
        if name not in self.used:
            self.used.append(name)
        return fdef

    # -- comparisons ----------------------------------------------------------------------

    def _binary(self, op: str, fdef: FieldDef, value: Any, where: str) -> Predicate:
        getter, kind = fdef.getter, fdef.kind
        if op == "=~":
            if not isinstance(value, str):
                raise _fail(f"{where}: '=~' needs a regular expression string, got {value!r}")
            if kind not in (constants.QFT_TEXT, constants.QFT_OTHER):
                raise _fail(f"{where}: '=~' cannot be used on {kind} field {fdef.name!r}")
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise _fail(f"{where}: invalid regular expression {value!r}: {exc}") from None
            return lambda qd, item: isinstance(v := getter(qd, item), str) and bool(regex.search(v))
        if op == "=[]":
            if kind != constants.QFT_OTHER:
                raise _fail(f"{where}: '=[]' needs a list field, {fdef.name!r} is {kind}")
            return lambda qd, item: isinstance(v := getter(qd, item), list) and value in v
        self._check_value_type(op, fdef, value, where)
        if op in ("==", "=", "!="):
            equal = _hostname_equal(value) if fdef.hostname else (lambda v: v == value)
            if op == "!=":
                return lambda qd, item: _present(v := getter(qd, item)) and not equal(v)
            return lambda qd, item: _present(v := getter(qd, item)) and equal(v)
        cmp = _ORDERING[op]

        def ordered(qd: QueryData, item: Any) -> bool:
            v = getter(qd, item)
            # None (or a mixed int/str list) never orders: false rather than an error.
            try:
                return _present(v) and v is not None and bool(cmp(v, value))
            except TypeError:
                return False

        return ordered

    @staticmethod
    def _check_value_type(op: str, fdef: FieldDef, value: Any, where: str) -> None:
        kind = fdef.kind
        if kind in _NUMERIC_KINDS:
            ok = _is_number(value) or (value is None and op in ("==", "=", "!="))
        elif kind == constants.QFT_TEXT:
            ok = isinstance(value, str) or (value is None and op in ("==", "=", "!="))
        elif kind == constants.QFT_BOOL:
            ok = isinstance(value, bool) and op in ("==", "=", "!=")
        else:  # other: any JSON value, equality only
            ok = op in ("==", "=", "!=")
        if not ok:
            raise _fail(
                f"{where}: cannot compare {kind} field {fdef.name!r} with {op!r} to "
                f"{_type_name(value)} value {value!r}"
            )


def _present(value: Any) -> bool:
    return not isinstance(value, Status)


def _hostname_equal(wanted: Any) -> Callable[[Any], bool]:
    """Equality that also accepts the short form of a host name (node1 ~ node1.example.com)."""
    if not isinstance(wanted, str):
        return lambda v: bool(v == wanted)
    prefix = wanted + "."
    return lambda v: v == wanted or (isinstance(v, str) and v.startswith(prefix))


def compile_filter(qfilter: Any, fields: Mapping[str, FieldDef]) -> tuple[Predicate, list[str]]:
    """The predicate for ``qfilter`` and the names of the fields it reads."""
    compiler = FilterCompiler(fields)
    return compiler.compile(qfilter), compiler.used


def simple_name_filter(names: list[Any], field: str = "name") -> list[Any] | None:
    """``["|", ["==", field, n1], ...]``, or None for no names (everything)."""
    if not names:
        return None
    return ["|", *(["==", field, name] for name in names)]
