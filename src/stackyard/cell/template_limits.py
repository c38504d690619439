"""What a template may make as it renders, enforced inside Jinja's sandbox in every cell.

The checks on a template's syntax tree (`definitions/templates.py`) refuse, with a 422 before anything is built,
the arithmetic they can see: a power, a product with a big literal, a literal width. What they cannot see is a
value that only exists at run time: `{{ 'a' * n * n }}` with `n` from the run, `{{ '%0*d' % (width, 1) }}`,
`{{ text|center(size) }}`. So every cell checks the values themselves, where the string or number would be
made, whatever template, component or nesting asked for it:

- `*`, `**` and `%` go through the sandbox's operator hook (Jinja's `intercepted_binops`, which also stops them
  from being folded into constants while a template compiles): a repetition may make at most `MAX_ITEMS`
  characters or items, an integer at most `MAX_BITS` bits, a printf-style format no width over `MAX_WIDTH`;
- `str.format` (the sandbox's formatter, with nested widths already filled in), the `format`, `center` and
  `indent` filters and `lipsum()` are held to the same widths and sizes.

A refusal raises `Refused` with rule `template-arithmetic`; the cell answers it as a 422 that names the rule.
Jinja's sandbox bounds `range()` already (100,000 items). Loops and long renders are bounded by the run's time and
CPU limits, as any component's work is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.filters import FILTERS as DEFAULT_FILTERS  # what `jinja2.defaults` re-exports under this name
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter

from stackyard.cell.containment import Refused
from stackyard.cell.templates import MAX_WIDTH, PRINTF_CONVERSION, spec_widths

MAX_ITEMS = 1_000_000  # characters or items one repetition may make
MAX_BITS = 100_000  # bits of an integer a product or power may make (about 30,000 digits)
RULE = "template-arithmetic"


def install() -> None:
    """Hold every sandboxed environment of this process to the limits (once; a second call changes nothing).

    Haystack's builders, routers and adapters make their own `SandboxedEnvironment`s, with no way to pass one in;
    the hooks are set on the class (operator interception is a class attribute in Jinja's design), and the
    filters and globals in the defaults each environment copies as it is made.
    """
    if SandboxedEnvironment.call_binop is _call_binop:
        return
    SandboxedEnvironment.intercepted_binops = frozenset({"*", "**", "%"})
    SandboxedEnvironment.call_binop = _call_binop  # type: ignore[method-assign]
    # Read both before changing either: the escaping formatter would otherwise find the plain one's new method.
    fields = {formatter: formatter.format_field for formatter in (SandboxedFormatter, SandboxedEscapeFormatter)}
    for formatter, original in fields.items():
        formatter.format_field = _bounded_field(original)  # type: ignore[method-assign,assignment]
    DEFAULT_FILTERS["format"] = _printf_filter(DEFAULT_FILTERS["format"])
    DEFAULT_FILTERS["center"] = _width_filter(DEFAULT_FILTERS["center"])
    DEFAULT_FILTERS["indent"] = _width_filter(DEFAULT_FILTERS["indent"])
    DEFAULT_NAMESPACE["lipsum"] = _sized(cast(Callable[..., str], DEFAULT_NAMESPACE["lipsum"]), "lipsum()")


def _call_binop(self: SandboxedEnvironment, context: Context, operator: str, left: Any, right: Any) -> Any:
    if operator == "*":
        check_product(left, right)
    elif operator == "**":
        check_power(left, right)
    elif isinstance(left, str):  # "%": formatting; on numbers, a remainder
        check_printf(left, right)
    return self.binop_table[operator](left, right)


def check_product(left: Any, right: Any) -> None:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and _is_int(times) and len(sequence) * times > MAX_ITEMS:
            _refuse(f"repeats {len(sequence):,} items {times:,} times (limit: {MAX_ITEMS:,} items)")
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_BITS:
        _refuse(f"multiplies integers into more than {MAX_BITS:,} bits")


def check_power(base: Any, exponent: Any) -> None:
    if _is_int(base) and _is_int(exponent) and abs(base) > 1 and base.bit_length() * exponent > MAX_BITS:
        _refuse(f"raises an integer to a power of more than {MAX_BITS:,} bits")


def check_printf(template: str, values: Any) -> None:
    """Widths and precisions of a `%` format, written in it or taken from `values` (`*`)."""
    positional = list(values) if isinstance(values, tuple) else [values]
    for match in PRINTF_CONVERSION.finditer(template):
        width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        for field in (width, precision):
            if field == "*":
                taken = positional.pop(0) if positional else 0
                _check_width(taken if _is_int(taken) else 0)
            elif field is not None:
                _check_width(int(field))
        if positional and not isinstance(values, Mapping):
            positional.pop(0)


def _bounded_field(original: Callable[[Any, Any, str], Any]) -> Callable[[Any, Any, str], Any]:
    def format_field(self: Any, value: Any, format_spec: str) -> Any:
        for width in spec_widths(format_spec):  # nested fields (`{:{w}}`) are filled in by now
            _check_width(width)
        return original(self, value, format_spec)

    return format_field


def _printf_filter(original: Callable[..., str]) -> Callable[..., str]:
    def format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
        check_printf(str(value), kwargs or args)
        return original(value, *args, **kwargs)

    return format_filter


def _width_filter(original: Callable[..., str]) -> Callable[..., str]:
    def width_filter(value: Any, *args: Any, **kwargs: Any) -> str:
        width = kwargs.get("width", args[0] if args else 0)  # `center` and `indent` both take it first
        _check_width(width if _is_int(width) else len(width) if isinstance(width, str) else 0)
        return original(value, *args, **kwargs)

    return width_filter


def _sized(original: Callable[..., str], name: str) -> Callable[..., str]:
    def sized(n: int = 5, *args: Any, **kwargs: Any) -> str:
        if _is_int(n) and n > 1_000:
            _refuse(f"asks {name} for {n:,} paragraphs (limit: 1,000)")
        return original(n, *args, **kwargs)

    return sized


def _check_width(width: int) -> None:
    if width > MAX_WIDTH:
        _refuse(f"formats a field {width:,} characters wide (limit: {MAX_WIDTH:,})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse(reason: str) -> None:
    raise Refused(RULE, f"The template {reason}.")
