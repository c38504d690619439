"""Client methods made from the `calls` table: build the call, send it, return its parsed answer.

Each route is described once, as a function in `calls`; `Client` and `AsyncClient` turn each into a method with
the same parameters (a `ParamSpec`, so type checkers and editors see them), returning the answer or an awaitable.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from stackyard.client.calls import Call

P = ParamSpec("P")
T = TypeVar("T")


class Sender(Protocol):
    def send(self, call: Call[T], /) -> T: ...


class AsyncSender(Protocol):
    def send(self, call: Call[T], /) -> Awaitable[T]: ...


class _Method(Generic[P, T]):
    """What both kinds of client method keep of the `calls` function they send."""

    def __init__(self, make: Callable[P, Call[T]]) -> None:
        self.make = make
        self.__doc__ = make.__doc__
        self.signature = _parameters_of(make)


class SyncMethod(_Method[P, T]):
    """`Client.<route>(...)`: send `make(...)` and return its answer."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Sender, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, client: Sender | None, owner: type[Any]) -> Self | Callable[P, T]:
        if client is None:
            return self
        make = self.make

        @functools.wraps(make)
        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return client.send(make(*args, **kwargs))

        method.__signature__ = self.signature  # type: ignore[attr-defined]  # what help() and editors show
        return method


class AsyncMethod(_Method[P, T]):
    """`AsyncClient.<route>(...)`: send `make(...)` and return (awaitably) its answer."""

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: AsyncSender, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: AsyncSender | None, owner: type[Any]) -> Self | Callable[P, Awaitable[T]]:
        if client is None:
            return self
        make = self.make

        @functools.wraps(make)
        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return await client.send(make(*args, **kwargs))

        method.__signature__ = self.signature  # type: ignore[attr-defined]  # what help() and editors show
        return method


def _parameters_of(make: Callable[..., Any]) -> inspect.Signature:
    # The method answers with what the call parses, not with the `Call` itself.
    return inspect.signature(make).replace(return_annotation=inspect.Signature.empty)
