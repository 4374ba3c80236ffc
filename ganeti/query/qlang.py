"""The textual filter language of ``gnt-* list --filter`` and name arguments.

Grammar (``not`` binds tightest, then ``and``, then ``or``)::

    expr      := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | "(" expr ")" | condition
    condition := field (== | != | < | > | <= | >=) value
               | field (=~ | !~) regex
               | value ["not"] "in" field          # list membership
               | field                             # truthiness
    value     := "string" | 'string' | number | true | false | null
    regex     := /pattern/flags | "pattern"        # flags: i, m, s

Examples: ``name == "node1" and not offline``, ``pinst_cnt > 2 or drained``,
``"web" in tags``, ``name =~ /^web[0-9]+/i``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ganeti import errors

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_COMPARE = ("==", "!=", "<=", ">=", "=~", "!~", "<", ">", "=")
_KEYWORDS = frozenset({"and", "or", "not", "in"})
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
# A name argument containing any of these is taken as a filter expression.
_FILTER_CHARS = frozenset(" ()=!<>~\"'\t")
_GLOB_CHARS = frozenset("*?[")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    # -- scanning ---------------------------------------------------------------------------

    def error(self, msg: str) -> errors.QueryFilterParseError:
        return errors.QueryFilterParseError(
            f"{msg} at position {self.pos + 1} of filter {self.text!r}"
        )

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def keyword(self, word: str) -> bool:
        """Consume ``word`` if it comes next as a whole word."""
        self.skip_space()
        end = self.pos + len(word)
        if self.text[self.pos : end] == word and not (
            end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "_./-")
        ):
            self.pos = end
            return True
        return False

    def symbol(self, options: Sequence[str]) -> str | None:
        self.skip_space()
        for sym in options:
            if self.text.startswith(sym, self.pos):
                self.pos += len(sym)
                return sym
        return None

    # -- grammar ----------------------------------------------------------------------------

    def parse(self) -> list[Any]:
        if self.at_end():
            raise self.error("empty filter")
        result = self.or_expr()
        if not self.at_end():
            raise self.error(f"unexpected {self.text[self.pos :]!r}")
        return result

    def or_expr(self) -> list[Any]:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ["|", *parts]

    def and_expr(self) -> list[Any]:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else ["&", *parts]

    def not_expr(self) -> list[Any]:
        if self.keyword("not"):
            return ["!", self.not_expr()]
        if self.symbol(["("]):
            inner = self.or_expr()
            if not self.symbol([")"]):
                raise self.error("missing ')'")
            return inner
        return self.condition()

    def condition(self) -> list[Any]:
        self.skip_space()
        start = self.pos
        if self.pos < len(self.text) and self.text[self.pos] in "\"'0123456789-":
            value = self.value()
            negate = self.keyword("not")
            if not self.keyword("in"):
                raise self.error("expected 'in' after a value")
            cond = ["=[]", self.field(), value]
            return ["!", cond] if negate else cond
        name = self.field()
        op = self.symbol(_COMPARE)
        if op is None:
            return ["?", name]
        if op in ("=~", "!~"):
            cond = ["=~", name, self.regex()]
            return ["!", cond] if op == "!~" else cond
        if op == "=":
            op = "=="
        self.skip_space()
        if self.pos >= len(self.text):
            self.pos = start
            raise self.error(f"missing value after {name!r} {op}")
        return [op, name, self.value()]

    def field(self) -> str:
        self.skip_space()
        match = _FIELD.match(self.text, self.pos)
        if match is None or match.group() in _KEYWORDS:
            raise self.error("expected a field name")
        self.pos = match.end()
        return match.group()

    def value(self) -> Any:
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            return self.string()
        match = _NUMBER.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            text = match.group()
            return float(text) if match.group(1) or match.group(2) else int(text)
        for word, literal in _LITERALS.items():
            if self.keyword(word):
                return literal
        raise self.error("expected a value (quoted string, number, true, false or null)")

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == quote:
                return "".join(out)
            else:
                out.append(char)
        raise self.error("unterminated string")

    def regex(self) -> str:
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            pattern = self.string()
        elif self.symbol(["m/", "/"]):
            out: list[str] = []
            while True:
                if self.pos >= len(self.text):
                    raise self.error("unterminated regular expression")
                char = self.text[self.pos]
                self.pos += 1
                if char == "\\" and self.text[self.pos : self.pos + 1] == "/":
                    out.append("/")
                    self.pos += 1
                elif char == "/":
                    break
                else:
                    out.append(char)
            pattern = "".join(out)
            flags = ""
            while self.pos < len(self.text) and self.text[self.pos] in "ims":
                flags += self.text[self.pos]
                self.pos += 1
            if flags:
                pattern = f"(?{''.join(sorted(set(flags)))}){pattern}"
        else:
            raise self.error("expected a regular expression (/.../ or a quoted string)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.error(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern


def parse_filter(text: str) -> list[Any]:
    """Parse the textual language into the list form; raises QueryFilterParseError."""
    if not isinstance(text, str):
        raise errors.QueryFilterParseError(f"filter must be text, got {text!r}")
    return _Parser(text).parse()


def _glob_to_regex(pattern: str) -> str:
    out = ["^"]
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char in "[]":
            out.append(char)
        else:
            out.append(re.escape(char))
    out.append("$")
    return "".join(out)


def make_filter(
    args: Sequence[str],
    *,
    force_filter: bool = False,
    namefield: str = "name",
    numeric: bool = False,
) -> list[Any] | None:
    """The filter for a CLI command line: a filter expression or a list of names.

    With ``force_filter`` (``--filter``) the single argument is an expression; otherwise
    one argument that contains operator characters is too.  Anything else is a list of
    names (job ids when ``numeric``); names with glob characters (``web*``) match as
    patterns.  No arguments means no filter.
    """
    args = list(args)
    if force_filter or (len(args) == 1 and _FILTER_CHARS & set(args[0])):
        if len(args) != 1:
            raise errors.QueryFilterParseError(
                f"a filter expression must be one argument, got {len(args)}"
            )
        return parse_filter(args[0])
    if not args:
        return None
    parts: list[Any] = []
    for arg in args:
        if numeric:
            try:
                parts.append(["==", namefield, int(arg)])
            except ValueError:
                raise errors.QueryFilterParseError(f"{arg!r} is not a valid id") from None
        elif _GLOB_CHARS & set(arg):
            parts.append(["=~", namefield, _glob_to_regex(arg)])
        else:
            parts.append(["==", namefield, arg])
    return ["|", *parts]
