"""Jinja templates, checked on their parsed form before anything compiles or renders them.

Templates reach Haystack's builders from two places: a definition's parameters (any string parameter, at any
nesting, that holds `{{` or `{%`), and, where a definition opts in, a run's `template` input. Jinja's sandbox keeps
a template away from Python's internals at render time, but not away from the CPU: `{{ 7 ** 10000000 }}` is folded
into a constant while the template compiles, and `{% set e = 10000000 %}{{ 7 ** e }}` runs when it renders. So
each template is parsed (`Environment.parse`: the syntax tree, no compiling, no constant folding) and its nodes
are checked by kind:

- rule `template-sandbox`: an attribute whose name starts with `_`, a name that starts with `_`, the `attr` filter,
  and the names `mro`, `subclasses`, `globals`, `builtins` (the usual ways out of a sandbox); an item key, or a
  filter's attribute argument (`map(attribute=...)`, `selectattr(...)`...), that is or may be a name starting with
  `_`, however it is built: worked out where it is a constant (`'_' ~ '_class_' ~ '_'`), refused where run data
  completes a piece starting with `_` (`'_' ~ name`), read through the names the template sets (`template_keys.py`);
- rule `template-arithmetic`: a power (`**`) unless its exponent is a literal integer of at most
  `MAX_EXPONENT` and its base holds no power or product; a product (`*`), or chain of products, whose literal
  factors multiply beyond `MAX_FACTOR` (string and list repetition); `range()` with a literal bound beyond
  `MAX_RANGE`; a format written in the template with a field wider than `MAX_WIDTH` (`%`, `format`,
  `str.format`, `center`, `indent`).

What depends on run data (`'a' * n`, a width from a variable) cannot be seen here: every worker checks the values
as the template renders (`serving/template_limits.py`), against the same widths.

A string that does not parse as a template is not a template to these rules (the component that gets it refuses
it when it is built, with its own message).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from jinja2 import Environment, TemplateSyntaxError, nodes

from stackyard.cell.template_keys import key_findings
from stackyard.errors import PolicyViolation

MAX_EXPONENT = 32
MAX_FACTOR = 10_000
MAX_RANGE = 100_000
MAX_WIDTH = 10_000  # a field's width or precision in any format, written in the template or given at run time
ESCAPE_NAMES = frozenset({"mro", "subclasses", "globals", "builtins"})
# Run inputs with this name set the template a builder renders (PromptBuilder, ChatPromptBuilder and their kin):
# refused unless the definition lists the component under `run_time_templates`.
TEMPLATE_SOCKET = "template"

# A printf-style conversion: mapping key, flags, width, precision, length modifier, conversion.
PRINTF_CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)
_DIGITS = re.compile(r"\d+")

_PARSER = Environment(autoescape=False)  # noqa: S701 - parses only; nothing is rendered with it


def looks_like_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def check_template(text: str, where: str, component: str | None = None) -> None:
    """Refuse `text` (a template found at `where`) if its syntax tree holds a way out of the sandbox or arithmetic
    that explodes; raises `PolicyViolation` (422)."""
    try:
        tree = _PARSER.parse(text)
    except TemplateSyntaxError:
        return
    for rule, reason in _findings(tree):
        subject = (
            f"Component '{component}' is refused by rule '{rule}': " if component else f"Refused by rule '{rule}': "
        )
        raise PolicyViolation(f"{subject}the template in '{where}' {reason}.", rule=rule, component=component)


def check_template_value(value: object, where: str, component: str | None = None) -> None:
    """`check_template` on every template string in a run input (a string, or chat messages' texts)."""
    for text in _strings(value):
        if looks_like_template(text):
            check_template(text, where, component)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    else:
        text = getattr(value, "text", None)  # a ChatMessage
        if isinstance(text, str):
            yield text


def _findings(tree: nodes.Node) -> Iterator[tuple[str, str]]:
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr) and (node.attr.startswith("_") or node.attr in ESCAPE_NAMES):
            yield "template-sandbox", f"reaches for Python internals ('.{node.attr}')"
        elif isinstance(node, nodes.Name) and (node.name.startswith("_") or node.name in ESCAPE_NAMES):
            yield "template-sandbox", f"reaches for Python internals ('{node.name}')"
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            yield "template-sandbox", "reaches for Python internals (the 'attr' filter)"
        elif isinstance(node, nodes.Pow) and not _small_power(node):
            yield (
                "template-arithmetic",
                (
                    f"raises to a power that is not a literal integer of at most {MAX_EXPONENT} over a plain base; "
                    "such arithmetic can take the server's CPU for minutes"
                ),
            )
        elif isinstance(node, nodes.Mul) and _literal_product(node) > MAX_FACTOR:
            yield "template-arithmetic", f"multiplies by literals beyond {MAX_FACTOR:,} (repetition that explodes)"
        elif (width := _literal_width(node)) > MAX_WIDTH:
            yield "template-arithmetic", f"formats a field {width:,} characters wide (limit: {MAX_WIDTH:,})"
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "range"
            and any(_big_literal(argument, MAX_RANGE) for argument in node.args)
        ):
            yield "template-arithmetic", f"loops over a range beyond {MAX_RANGE:,}"
    yield from key_findings(tree)  # item keys and filters' attribute names, worked out where they are constants


def _small_power(node: nodes.Pow) -> bool:
    exponent = node.right
    plain_base = not any(True for _ in node.left.find_all((nodes.Pow, nodes.Mul))) and not isinstance(
        node.left, nodes.Pow | nodes.Mul
    )
    return (
        isinstance(exponent, nodes.Const)
        and isinstance(exponent.value, int)
        and not isinstance(exponent.value, bool)
        and abs(exponent.value) <= MAX_EXPONENT
        and plain_base
    )


def _literal_product(node: nodes.Mul) -> float:
    """The product of the literal factors of a chain of products (`'a' * 10000 * 10000`: 10^8)."""
    product = 1.0
    for side in (node.left, node.right):
        if isinstance(side, nodes.Mul):
            product *= _literal_product(side)
        elif _big_literal(side, 1):
            product *= abs(_literal(side))
    return product


def _literal_width(node: nodes.Node) -> int:
    """The widest field a format written in the template asks for: `'%09999d' % n`, `'{:9999}'.format(n)`,
    `'%9999s'|format(n)`, `text|center(9999)`; 0 where there is none (a width from run data is checked as the
    template renders, by the worker: `serving/template_limits.py`)."""
    if isinstance(node, nodes.Mod) and isinstance(node.left, nodes.Const) and isinstance(node.left.value, str):
        return max(printf_widths(node.left.value), default=0)
    if (
        isinstance(node, nodes.Filter)
        and node.name == "format"
        and isinstance(node.node, nodes.Const)
        and isinstance(node.node.value, str)
    ):
        return max(printf_widths(node.node.value), default=0)
    if isinstance(node, nodes.Filter) and node.name in ("center", "indent"):
        given = [*node.args[:1], *(keyword.value for keyword in node.kwargs if keyword.key == "width")]
        return max((int(abs(_literal(value))) for value in given if _big_literal(value, 0)), default=0)
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr in ("format", "format_map")
        and isinstance(node.node.node, nodes.Const)
        and isinstance(node.node.node.value, str)
    ):
        return max(field_widths(node.node.node.value), default=0)
    return 0


def printf_widths(text: str) -> list[int]:
    """The widths and precisions written in a `%` format (`'%05.2f'`: 5 and 2; `*` takes one from the values)."""
    fields = (field for match in PRINTF_CONVERSION.finditer(text) for field in match.groups()[:2])
    return [int(field) for field in fields if field and field != "*"]


def field_widths(text: str) -> list[int]:
    """The numbers in the format specs of a `str.format` text (widths, precisions; a fill digit is harmless)."""
    try:
        specs = [spec for _, field, spec, _ in string.Formatter().parse(text) if field is not None and spec]
    except ValueError:  # not a valid format: `format` will say so itself
        return []
    return [width for spec in specs for width in spec_widths(spec)]


def spec_widths(spec: str) -> list[int]:
    """The numbers in one format spec (`'>08.3f'`: 8 and 3)."""
    return [int(digits) for digits in _DIGITS.findall(spec)]


def _literal(node: nodes.Node) -> float:
    if isinstance(node, nodes.Neg | nodes.Pos):
        node = node.node
    value = node.value if isinstance(node, nodes.Const) else 0
    return float(value)


def _big_literal(node: nodes.Node, limit: int) -> bool:
    if isinstance(node, nodes.Neg | nodes.Pos):
        node = node.node
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and abs(node.value) > limit
    )
