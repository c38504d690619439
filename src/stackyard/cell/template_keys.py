"""The names a template looks things up by: item keys (`x[key]`) and the attribute arguments of filters.

`x['__class__']` is the same lookup as `x.__class__` in a Jinja sandbox, and a key can be built rather than
written: `x['_' ~ '_class_' ~ '_']`, `x['__ssalc__'|reverse]`, `x['%c_class__' % 95]`, or a name the template set
itself (`{% set k = '__class__' %}{{ x[k] }}`). So, for the rule `template-sandbox`:

- a key is worked out where it does not depend on run data (a constant expression: literals joined by `~`, `+`,
  `%`, `format`, `join`, string filters and slices) and refused if it starts with `_`;
- a key that depends on run data is refused if any constant piece of it starts with `_` (`'_' ~ name`,
  `name ~ '__class__'`): the data may well make that piece the start of the key;
- a name the template binds (`set`, `for`, `with`, macro arguments, `namespace`) and then uses in a key is read
  through: what it is bound to is checked as the key itself;
- the attribute arguments of `map`, `selectattr`, `rejectattr`, `groupby`, `sort`, `sum`, `unique`, `min` and
  `max` are checked the same way, each part of a dotted path (`attribute='meta.__class__'`) on its own; and
  `map('attr', ...)` is the `attr` filter by another name.

Jinja's own `as_const` would fold these too, but it multiplies and raises to powers as it goes, so
`x['_' * 10 ** 9]` would take the server down while being checked: the folding here gives up past
`MAX_KEY_CHARS`. Keys only known at run time (`meta[key]`, a variable from the run) are left to the sandbox.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from jinja2 import nodes

MAX_KEY_CHARS = 1_000
# Filter -> position of its attribute argument after the filtered value (None: by keyword only).
ATTRIBUTE_FILTERS: dict[str, int | None] = {
    "map": None,
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
    "sort": 2,
    "sum": 0,
    "unique": 1,
    "min": 1,
    "max": 1,
}
_STRING_FILTERS: dict[str, Callable[..., Any]] = {
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "capitalize": str.capitalize,
    "trim": lambda text, chars=None: text.strip(chars),
    "string": str,
    "reverse": lambda value: value[::-1],
    "first": lambda value: value[0],
    "last": lambda value: value[-1],
    "list": tuple,
}
_STRING_METHODS = ("lower", "upper", "title", "capitalize", "strip", "lstrip", "rstrip")
T = TypeVar("T")
_UNKNOWN = object()  # a value that depends on run data, or costs too much to work out here


class _TooCostly(Exception):
    pass


def key_findings(tree: nodes.Node) -> Iterator[tuple[str, str]]:
    """`(rule, reason)` for each item key or attribute argument in `tree` that reaches for Python internals."""
    keys = _Keys(tree)
    for node in tree.find_all((nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getitem) and keys.reaches(node.arg, dotted=False):
            yield "template-sandbox", "reaches for Python internals (an item key that is or holds a name with '_')"
        elif isinstance(node, nodes.Filter) and node.name in ATTRIBUTE_FILTERS:
            if node.name == "map" and node.args and keys.folder.fold(node.args[0]) == "attr":
                yield "template-sandbox", "reaches for Python internals (the 'attr' filter, through 'map')"
            elif any(keys.reaches(argument, dotted=True) for argument in _attribute_arguments(node)):
                yield (
                    "template-sandbox",
                    f"reaches for Python internals (an attribute of the '{node.name}' filter named with '_')",
                )


def _attribute_arguments(node: nodes.Filter) -> Iterator[nodes.Expr]:
    position = ATTRIBUTE_FILTERS[node.name]
    if position is not None and len(node.args) > position:
        yield node.args[position]
    yield from (keyword.value for keyword in node.kwargs if keyword.key == "attribute")
    yield from (argument for argument in (node.dyn_args, node.dyn_kwargs) if argument is not None)


class _Keys:
    """Whether keys may name internals, for one template: each node folded once, each bound name read once."""

    def __init__(self, tree: nodes.Node) -> None:
        self.folder = _Folder()
        self._bindings = _bindings(tree)
        self._names: dict[tuple[str, bool], bool] = {}

    def reaches(self, expr: nodes.Node, *, dotted: bool) -> bool:
        """Whether the key (or attribute path) `expr` is, or may be, a name starting with `_`."""
        value = self.folder.fold(expr)
        if value is not _UNKNOWN:
            return _internal(value, dotted)
        pieces = (self.folder.fold(node) for node in expr.find_all(nodes.Expr))
        if any(piece is not _UNKNOWN and _internal(piece, dotted) for piece in pieces):
            return True
        names = {node.name for node in (expr, *expr.find_all(nodes.Name)) if isinstance(node, nodes.Name)}
        return any(self._name_reaches(name, dotted) for name in names)

    def _name_reaches(self, name: str, dotted: bool) -> bool:
        # Read once: a name met again while it is being read adds nothing, and the first True ends the check.
        if (name, dotted) not in self._names:
            self._names[name, dotted] = False
            bound = self._bindings.get(name, ())
            self._names[name, dotted] = any(self.reaches(value, dotted=dotted) for value in bound)
        return self._names[name, dotted]


def _internal(value: Any, dotted: bool) -> bool:
    if isinstance(value, tuple | list):
        return any(_internal(item, dotted) for item in value)
    if not isinstance(value, str):
        return False
    return any(part.startswith("_") for part in value.split(".")) if dotted else value.startswith("_")


def _bindings(tree: nodes.Node) -> dict[str, list[nodes.Node]]:
    """Each name the template binds itself, with the expressions it may be bound to."""
    bound: dict[str, list[nodes.Node]] = {}
    for node in tree.find_all((nodes.Assign, nodes.AssignBlock, nodes.For, nodes.With, nodes.Macro)):
        for target, value in _bound_by(node):
            for name in _target_names(target):
                bound.setdefault(name, []).append(value)
    for name, value in _macro_arguments(tree):
        bound.setdefault(name, []).append(value)
    return bound


def _bound_by(node: nodes.Node) -> Iterator[tuple[nodes.Node, nodes.Node]]:
    if isinstance(node, nodes.Assign):
        yield node.target, node.node
    elif isinstance(node, nodes.AssignBlock):  # {% set k %}...{% endset %}: each piece of its output
        yield from ((node.target, part) for output in node.find_all(nodes.Output) for part in output.nodes)
    elif isinstance(node, nodes.For):
        yield node.target, node.iter
    elif isinstance(node, nodes.With):
        yield from zip(node.targets, node.values, strict=False)
    elif isinstance(node, nodes.Macro):  # defaults belong to the last arguments
        yield from zip(node.args[len(node.args) - len(node.defaults) :], node.defaults, strict=True)


def _macro_arguments(tree: nodes.Node) -> Iterator[tuple[str, nodes.Node]]:
    """What the template's own macros are called with, by parameter name."""
    macros = {macro.name: [argument.name for argument in macro.args] for macro in tree.find_all(nodes.Macro)}
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in macros:
            yield from zip(macros[call.node.name], call.args, strict=False)
            yield from ((keyword.key, keyword.value) for keyword in call.kwargs)


def _target_names(target: nodes.Node) -> list[str]:
    if isinstance(target, nodes.Name | nodes.NSRef):
        return [target.name]
    return [node.name for node in target.find_all(nodes.Name)]


class _Folder:
    """The constant value of an expression, worked out within `MAX_KEY_CHARS`, or `_UNKNOWN`; each node once."""

    def __init__(self) -> None:
        self._known: dict[int, Any] = {}

    def fold(self, node: nodes.Node) -> Any:
        if id(node) not in self._known:
            try:
                self._known[id(node)] = self._value(node)
            except (_TooCostly, LookupError, TypeError, ValueError, AttributeError, ArithmeticError):
                self._known[id(node)] = _UNKNOWN
        return self._known[id(node)]

    def _value(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.TemplateData):
            return node.data
        if isinstance(node, nodes.Tuple | nodes.List):
            return _capped(tuple(self._known_value(item) for item in node.items))
        if isinstance(node, nodes.Concat):
            return _capped("".join(str(self._known_value(part)) for part in node.nodes))
        if isinstance(node, nodes.Neg):
            return -_small_int(self._known_value(node.node))
        if isinstance(node, nodes.Add | nodes.Sub | nodes.Mul | nodes.Mod):
            return self._arithmetic(node, self._known_value(node.left), self._known_value(node.right))
        if isinstance(node, nodes.Getitem):
            return _capped(self._known_value(node.node)[self._index(node.arg)])
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._filter(node.name, self._known_value(node.node), node)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._method(node.node.attr, self._known_value(node.node.node), node)
        raise _TooCostly

    def _known_value(self, node: nodes.Node) -> Any:
        value = self.fold(node)
        if value is _UNKNOWN:
            raise _TooCostly
        return value

    def _arguments(self, node: nodes.Filter | nodes.Call) -> tuple[list[Any], dict[str, Any]]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise _TooCostly
        arguments = [self._known_value(argument) for argument in node.args]
        return arguments, {str(keyword.key): self._known_value(keyword.value) for keyword in node.kwargs}

    def _index(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Slice):
            bounds = (node.start, node.stop, node.step)
            return slice(*(None if bound is None else _small_int(self._known_value(bound)) for bound in bounds))
        return _small_int(self._known_value(node))

    def _arithmetic(self, node: nodes.BinExpr, left: Any, right: Any) -> Any:
        if isinstance(node, nodes.Mod) and isinstance(left, str):
            return _formatted(left, "%", lambda: left % right)
        if isinstance(node, nodes.Mul) and isinstance(left, str | tuple) != isinstance(right, str | tuple):
            text, times = (left, right) if isinstance(left, str | tuple) else (right, left)
            if len(text) * _small_int(times) > MAX_KEY_CHARS:
                raise _TooCostly
            return text * times
        if isinstance(node, nodes.Add) and isinstance(left, str) and isinstance(right, str):
            return _capped(left + right)
        left, right = _small_int(left), _small_int(right)
        operations: dict[type, Callable[[int, int], int]] = {
            nodes.Add: int.__add__,
            nodes.Sub: int.__sub__,
            nodes.Mul: int.__mul__,
            nodes.Mod: int.__mod__,
        }
        return _small_int(operations[type(node)](left, right))

    def _filter(self, name: str, value: Any, node: nodes.Filter) -> Any:
        arguments, keywords = self._arguments(node)
        if name == "join":
            separator = arguments[0] if arguments else keywords.get("d", "")
            return _capped(str(separator).join(str(item) for item in value))
        if name == "replace":
            return _replaced(value, *arguments[:3])
        if name == "format" and isinstance(value, str):
            return _formatted(value, "%", lambda: value % (tuple(arguments) or keywords))
        if name in _STRING_FILTERS:
            return _capped(_STRING_FILTERS[name](value, *arguments))
        raise _TooCostly

    def _method(self, name: str, value: Any, node: nodes.Call) -> Any:
        if not isinstance(value, str):
            raise _TooCostly
        arguments, keywords = self._arguments(node)
        if name == "join":
            return _capped(value.join(str(item) for item in arguments[0]))
        if name == "replace":
            return _replaced(value, *arguments[:3])
        if name == "format":
            return _formatted(value, "{", lambda: value.format(*arguments, **keywords))
        if name in _STRING_METHODS:
            return _capped(getattr(value, name)(*arguments))
        raise _TooCostly


def _formatted(template: str, style: str, work: Callable[[], str]) -> str:
    """`work()`, the formatting of `template`, once its widths are known to be small and its fields plain."""
    widths = sum(int(digits) for digits in re.findall(r"\d+", template))
    if "*" in template or widths > MAX_KEY_CHARS or len(template) > MAX_KEY_CHARS:
        raise _TooCostly
    if style == "{":
        for _, field, spec, _ in string.Formatter().parse(template):
            if field is not None and (any(mark in field for mark in ".[") or "{" in (spec or "")):
                raise _TooCostly  # an attribute or item lookup, or a nested field: not a constant to compute
    return _capped(work())


def _replaced(value: Any, old: Any, new: Any, count: Any = -1) -> str:
    if not (isinstance(value, str) and isinstance(old, str) and isinstance(new, str)):
        raise _TooCostly
    occurrences = value.count(old) if old else len(value) + 1
    if len(value) + occurrences * len(new) > MAX_KEY_CHARS:
        raise _TooCostly
    return value.replace(old, new, _small_int(count))


def _small_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_KEY_CHARS * MAX_KEY_CHARS:
        raise _TooCostly
    return value


def _capped(value: T) -> T:
    if isinstance(value, str | tuple) and len(value) > MAX_KEY_CHARS:
        raise _TooCostly
    return value
