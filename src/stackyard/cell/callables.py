"""Which init parameters take Python code, read from the types Haystack is about to instantiate.

A list of parameter names (`streaming_callback`, `tools`...) misses every component that calls its parameter
something else (`DocumentSplitter.splitting_function`). The types do not. A parameter's value is code when:

- it sits where the parameter's annotation asks for a `Callable`, at any depth (through `Optional`, unions, lists,
  dicts, `Sequence`, aliases), or for a class whose own `__init__` takes one, at any depth (Haystack's `Tool` holds
  a `function`, a `Toolset` holds tools). Where a union also allows plain data, a value of that data type is data
  (a `Secret` for `api_key: Secret | Callable[[], str]`); a value of none of the union's types is code if the union
  admits code;
- or it is, or holds, a function or an object of a class that takes one, whatever the annotation says: parameters
  typed loosely (`Agent.state_schema: dict[str, Any]`, whose `handler`s Haystack turns into functions;
  `Agent.hooks`, where a `FunctionHook` wraps a function).

Component classes are not read into: Haystack calls the pre-init hook for every component it builds, nested ones
included (an Agent's chat generator, a SuperComponent's pipeline), so each is checked on its own parameters.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from typing import Any

from haystack.core.component.component import ComponentMeta
from haystack.core.pipeline.base import PipelineBase

_CALLABLES: tuple[Any, ...] = (collections.abc.Callable, typing.Callable)
_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType)
_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)
_MAX_DEPTH = 64  # the YAML parser's own nesting cap; deserialized values are no deeper
# Classes known to take code, or known not to when read from the top (a read cut short by a cycle is not kept).
_KNOWN: dict[type, bool] = {}


def callable_parameters(cls: type, init_params: dict[str, Any]) -> list[str]:
    """The parameters given a value in `init_params` that is code, by their type in `cls` or by the value.

    >>> from haystack.components.preprocessors import DocumentSplitter
    >>> callable_parameters(DocumentSplitter, {"splitting_function": print, "split_by": "word"})
    ['splitting_function']
    """
    hints = _hints(cls.__init__)  # type: ignore[misc]  # read, never called: its annotations are the point
    return [name for name, value in init_params.items() if is_code(hints.get(name, Any), value)]


def is_code(annotation: Any, value: Any) -> bool:
    """Whether `value`, given for a parameter declared as `annotation`, is code or holds some."""
    return not _empty(value) and (_holds_function(value, 0) or _in_code_slot(annotation, value, 0))


def _in_code_slot(annotation: Any, value: Any, depth: int) -> bool:
    """Whether `value` sits where `annotation` asks for code (a `Callable`, or a class that takes one)."""
    if _empty(value):
        return False
    if depth > _MAX_DEPTH:
        return True  # deeper than a definition can make it: not worth reading further to trust
    annotation = _unwrapped(annotation)
    origin = typing.get_origin(annotation)
    if annotation in _CALLABLES or origin in _CALLABLES:
        return True  # any value where code is asked for: a function, or a name Haystack may resolve to one
    if isinstance(annotation, str):  # a forward reference that could not be resolved: read it as written
        return "Callable" in annotation
    if origin in _UNIONS:
        alternatives = [each for each in typing.get_args(annotation) if _fits(each, value)]
        if not alternatives:
            return takes_callable(annotation)
        return all(_in_code_slot(each, value, depth + 1) for each in alternatives)
    if isinstance(value, dict) and _is_class(origin, collections.abc.Mapping):
        key_type, item_type = (*typing.get_args(annotation), Any, Any)[:2]
        keys = any(_in_code_slot(key_type, key, depth + 1) for key in value)
        return keys or any(_in_code_slot(item_type, item, depth + 1) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset) and _is_class(origin, collections.abc.Iterable):
        arguments = typing.get_args(annotation)
        if origin is tuple and arguments and Ellipsis not in arguments:  # tuple[A, B]: a type per position
            return any(_in_code_slot(each, item, depth + 1) for each, item in zip(arguments, value, strict=False))
        item_type = arguments[0] if arguments else Any
        return any(_in_code_slot(item_type, item, depth + 1) for item in value)
    if isinstance(annotation, type) and not _fits(annotation, value):
        return _class_takes_callable(annotation, frozenset())  # data that becomes an object of a class taking code
    return False


def takes_callable(annotation: Any, reading: frozenset[type] = frozenset()) -> bool:
    """Whether `annotation` includes a `Callable`, or a class that takes one; `reading`: the classes being read."""
    annotation = _unwrapped(annotation)
    if annotation is None or annotation is Any:
        return False
    if isinstance(annotation, str):
        return "Callable" in annotation
    origin = typing.get_origin(annotation)
    if annotation in _CALLABLES or origin in _CALLABLES:
        return True
    if origin in (typing.Literal, type):  # literal values, and class references, are not code to run
        return False
    if origin is not None:  # unions, containers, generic classes: any argument, and the generic class itself
        arguments = typing.get_args(annotation)
        return any(takes_callable(argument, reading) for argument in arguments) or (
            isinstance(origin, type) and _class_takes_callable(origin, reading)
        )
    return isinstance(annotation, type) and _class_takes_callable(annotation, reading)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict | set | frozenset) and not value)


def _holds_function(value: Any, depth: int) -> bool:
    """Whether a deserialized value is, or contains, a function or an object of a class that takes one."""
    if depth > _MAX_DEPTH:
        return True
    if isinstance(value, dict):
        return any(_holds_function(item, depth + 1) for pair in value.items() for item in pair)
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_function(item, depth + 1) for item in value)
    if inspect.isroutine(value) or isinstance(value, functools.partial):
        return True
    if isinstance(value, type | PipelineBase) or isinstance(type(value), ComponentMeta):
        return False  # a class reference; or a component or pipeline, whose components the hook checks as built
    return _class_takes_callable(type(value), frozenset())


def _class_takes_callable(cls: type, reading: frozenset[type]) -> bool:
    if cls in _KNOWN:
        return _KNOWN[cls]
    if cls in reading:
        return False  # a cycle: the class is being read further up, and answers there
    if issubclass(cls, _FUNCTION_TYPES):
        result = True
    elif cls.__module__ in ("builtins", "typing") or isinstance(cls, ComponentMeta) or issubclass(cls, PipelineBase):
        result = False  # plain data types; components and pipelines are checked as Haystack builds them
    elif getattr(cls, "_is_protocol", False):
        # A Protocol says what its implementations do, not what they take: only a callable one is code itself.
        result = any("__call__" in vars(base) for base in cls.__mro__ if getattr(base, "_is_protocol", False))
    else:  # its own __init__ and its bases' (a Toolset subclass keeps the tools its base holds)
        inits = [vars(base)["__init__"] for base in cls.__mro__ if base is not object and "__init__" in vars(base)]
        hints = [hint for init in inits for name, hint in _hints(init).items() if name != "return"]
        result = any(takes_callable(hint, reading | {cls}) for hint in hints)
    if result or not reading:
        _KNOWN[cls] = result
    return result


def _unwrapped(annotation: Any) -> Any:
    """`Annotated[X, ...]`, `NewType`, `type X = ...` and TypeVars, as what they stand for."""
    for _ in range(_MAX_DEPTH):
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif isinstance(annotation, typing.TypeVar):
            constraints = annotation.__constraints__
            annotation = annotation.__bound__ or (typing.Union[constraints] if constraints else Any)  # noqa: UP007
        elif hasattr(annotation, "__supertype__"):
            annotation = annotation.__supertype__
        elif type(annotation).__name__ == "TypeAliasType":
            annotation = annotation.__value__
        else:
            break
    return annotation


def _fits(annotation: Any, value: Any) -> bool:
    """Whether `value` is of the type `annotation` names, as far as its outer class tells."""
    annotation = _unwrapped(annotation)
    if annotation is Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if annotation in _CALLABLES or origin in _CALLABLES:
        return callable(value) and not isinstance(value, type)
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in _UNIONS:
        return any(_fits(each, value) for each in typing.get_args(annotation))
    target = origin if origin is not None else annotation
    try:
        return isinstance(target, type) and isinstance(value, target)
    except TypeError:  # a Protocol that cannot be checked at run time
        return False


def _is_class(candidate: Any, base: type) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, base)


@functools.lru_cache(maxsize=512)
def _hints(function: Any) -> dict[str, Any]:
    """The resolved annotations of `function`; one by one where some cannot be resolved, those as written. Kept
    by function (resolving takes a fraction of a millisecond, for each component of each build): read-only."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation names something imported only for type checkers, or is not a type
        annotations = getattr(function, "__annotations__", None)
        if not isinstance(annotations, dict):
            return {}
        scope = getattr(function, "__globals__", {})
        return {name: _resolved(name, annotation, scope) for name, annotation in annotations.items()}


def _resolved(name: str, annotation: Any, scope: dict[str, Any]) -> Any:
    try:
        alone = types.SimpleNamespace(__annotations__={name: annotation}, __globals__=scope)
        return typing.get_type_hints(alone)[name]
    except Exception:  # as written: read as text by the rules above
        return annotation
