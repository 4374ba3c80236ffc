"""The opcode base class, parameter declarations and the OP_ID registry.

An opcode is a named bag of validated parameters.  Each opcode is declared with one
call to :func:`opcode`, which builds a subclass of :class:`OpCode` and registers it
under its ``OP_ID``.

Missing values follow Ganeti: a parameter that is absent or null takes its default;
a required parameter without a value is an error, unless its type explicitly accepts
null (``OP_TEST_DUMMY``).  Optional parameters without a default read as None and are
left out of :meth:`OpCode.to_dict`, as in Ganeti's job files.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from attrs import frozen

from ganeti import constants, errors
from ganeti.opcodes import types as t
from ganeti.opcodes.types import PType, TypeMismatch

SUMMARY_MAX: int = 60


@frozen
class Param:
    """One opcode parameter: its JSON name, type and default."""

    name: str
    type: PType
    default: Any = None
    required: bool = False
    doc: str = ""

    def default_value(self) -> Any:
        # Defaults such as {} or [] must not be shared between opcodes.
        return copy.deepcopy(self.default)


@frozen
class OneOf:
    """Alternative parameters of which at least one must be given (name or UUID)."""

    params: tuple[Param, ...]


def req(name: str, ptype: PType, doc: str = "") -> Param:
    return Param(name, ptype, required=True, doc=doc)


def opt(name: str, ptype: PType, default: Any = None, doc: str = "") -> Param:
    return Param(name, ptype, default=default, doc=doc)


def name_or_uuid(kind: str) -> OneOf:
    """``<kind>_name`` or ``<kind>_uuid``; users give names, the master fills UUIDs."""
    return OneOf(
        (
            Param(f"{kind}_name", t.NON_EMPTY_STRING, doc=f"name of the {kind}"),
            Param(f"{kind}_uuid", t.NON_EMPTY_STRING, doc=f"UUID of the {kind}"),
        )
    )


_JOB_ID = t.either(t.INT, t.String(pattern=str.isdigit, what="a job id"))
_DEPENDENCY = t.tuple_of(_JOB_ID, t.list_of(t.one_of(sorted(constants.JOBS_FINALIZED_DEP))))
_REASON_ENTRY = t.tuple_of(t.STRING, t.STRING, t.INT)

COMMON_PARAMS: tuple[Param, ...] = (
    opt("dry_run", t.BOOL, doc="stop after checking prerequisites"),
    opt("debug_level", t.NON_NEG_INT),
    opt(
        "priority",
        t.int_range(constants.OP_PRIO_HIGHEST, constants.OP_PRIO_LOWEST),
        constants.OP_PRIO_DEFAULT,
        doc="lower is more important",
    ),
    opt("depends", t.list_of(_DEPENDENCY), doc="[[job_id, [status, ...]], ...]"),
    opt("comment", t.STRING),
    opt("reason", t.list_of(_REASON_ENTRY), [], doc="[[source, text, timestamp_ns], ...]"),
)

_REGISTRY: dict[str, type[OpCode]] = {}


def _class_name(op_id: str) -> str:
    # OP_INSTANCE_STARTUP -> OpInstanceStartup
    return "Op" + "".join(part.capitalize() for part in op_id.removeprefix("OP_").split("_"))


class OpCode:
    """Base of all opcodes; instances hold validated parameter values.

    Parameters read as attributes (``op.instance_name``); assigning one validates it.
    """

    OP_ID: ClassVar[str] = ""
    PARAMS: ClassVar[Mapping[str, Param]] = {}
    ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = ()
    SUMMARY_FIELDS: ClassVar[tuple[str, ...]] = ()
    RESULT: ClassVar[str] = ""

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, **params: Any) -> None:
        object.__setattr__(self, "_values", self._validate(params))

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> OpCode:
        """Build an opcode from its job-file/LUXI dict, dispatching on ``OP_ID``."""
        if not isinstance(data, Mapping):
            raise errors.ParameterError(f"an opcode must be a dict, not {type(data).__name__}")
        op_id = data.get("OP_ID")
        target = _REGISTRY.get(op_id) if isinstance(op_id, str) else None
        if target is None:
            raise errors.OpCodeUnknown(f"unknown opcode {op_id!r}")
        if cls is not OpCode and target is not cls:
            raise errors.ParameterError(f"expected opcode {cls.OP_ID}, got {op_id}")
        op = object.__new__(target)
        params = {k: v for k, v in data.items() if k != "OP_ID"}
        object.__setattr__(op, "_values", target._validate(params))
        return op

    @classmethod
    def _validate(cls, given: Mapping[Any, Any]) -> dict[str, Any]:
        op_id = cls.OP_ID
        if not op_id:
            raise errors.ProgrammerError("OpCode is abstract; use a declared opcode")
        unknown = sorted(str(k) for k in given if k not in cls.PARAMS)
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise errors.ParameterError(f"{op_id}: unknown parameter(s) {names}")
        values: dict[str, Any] = {}
        for name, param in cls.PARAMS.items():
            values[name] = cls._check_value(param, given.get(name), present=name in given)
        for group in cls.ONE_OF:
            if all(values[name] is None for name in group):
                names = " or ".join(repr(n) for n in group)
                raise errors.ParameterError(f"{op_id}: parameter {names} is required")
        return values

    @classmethod
    def _check_value(cls, param: Param, value: Any, *, present: bool) -> Any:
        if value is None:
            if param.default is not None:
                return param.default_value()
            if param.required and not (present and param.type.accepts(None)):
                raise errors.ParameterError(
                    f"{cls.OP_ID}: missing required parameter {param.name!r}"
                )
            return None
        try:
            param.type.check(value)
        except TypeMismatch as exc:
            raise errors.ParameterError(f"{cls.OP_ID}: parameter {param.name!r}: {exc}") from None
        return value

    # -- access -------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for parameter names.
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"{self.OP_ID} has no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        param = self.PARAMS.get(name)
        if param is None:
            raise AttributeError(f"{self.OP_ID} has no parameter {name!r}")
        self._values[name] = self._check_value(param, value, present=True)

    def params(self) -> dict[str, Any]:
        """All parameter values, None for unset optional ones."""
        return dict(self._values)

    def replace(self, **changes: Any) -> OpCode:
        """A validated copy with some parameters changed."""
        return type(self)(**{**self._values, **changes})

    def to_dict(self) -> dict[str, Any]:
        """The dict stored in job files and sent over LUXI (unset values omitted)."""
        result: dict[str, Any] = {"OP_ID": self.OP_ID}
        result.update((k, v) for k, v in self._values.items() if v is not None)
        return result

    def summary(self) -> str:
        """Short text for job listings, e.g. ``INSTANCE_STARTUP(web1)``."""
        text = self.OP_ID.removeprefix("OP_")
        for name in self.SUMMARY_FIELDS:
            value = self._values.get(name)
            if value is None or value == []:
                continue
            shown = (
                ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
            )
            if len(shown) > SUMMARY_MAX:
                shown = shown[: SUMMARY_MAX - 3] + "..."
            return f"{text}({shown})"
        return text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpCode):
            return NotImplemented
        return type(self) is type(other) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = [
            f"{k}={v!r}"
            for k, v in self._values.items()
            if v is not None and v != self.PARAMS[k].default
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def opcode(
    op_id: str,
    *params: Param | OneOf,
    summary: str | tuple[str, ...] = (),
    result: str = "",
) -> type[OpCode]:
    """Declare and register one opcode.

    ``summary`` names the parameter(s) shown in job listings (first one set wins);
    ``result`` documents what the logical unit returns.
    """
    if op_id in _REGISTRY:
        raise errors.ProgrammerError(f"opcode {op_id} declared twice")
    table: dict[str, Param] = {}
    groups: list[tuple[str, ...]] = []
    for item in (*params, *COMMON_PARAMS):
        members = item.params if isinstance(item, OneOf) else (item,)
        if isinstance(item, OneOf):
            groups.append(tuple(p.name for p in members))
        for param in members:
            if param.name in table:
                raise errors.ProgrammerError(f"{op_id}: parameter {param.name} declared twice")
            if param.default is not None and not param.type.accepts(param.default):
                raise errors.ProgrammerError(f"{op_id}: bad default for {param.name}")
            table[param.name] = param
    fields = (summary,) if isinstance(summary, str) else summary
    for name in fields:
        if name not in table:
            raise errors.ProgrammerError(f"{op_id}: summary field {name} is not a parameter")
    cls = type(
        _class_name(op_id),
        (OpCode,),
        {
            "__slots__": (),
            "__module__": "ganeti.opcodes",
            "__doc__": f"Opcode {op_id}.",
            "OP_ID": op_id,
            "PARAMS": table,
            "ONE_OF": tuple(groups),
            "SUMMARY_FIELDS": fields,
            "RESULT": result,
        },
    )
    _REGISTRY[op_id] = cls
    return cls


def registry() -> Mapping[str, type[OpCode]]:
    """Every declared opcode class by OP_ID."""
    return dict(_REGISTRY)


def lookup(op_id: str) -> type[OpCode]:
    try:
        return _REGISTRY[op_id]
    except KeyError:
        raise errors.OpCodeUnknown(f"unknown opcode {op_id!r}") from None
