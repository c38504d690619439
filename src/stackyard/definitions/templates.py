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
  `MAX_EXPONENT` and its base holds no power or product; a product (`*`) with a literal number beyond
  `MAX_FACTOR` (string and list repetition); `range()` with a literal bound beyond `MAX_RANGE`.

A string that does not parse as a template is not a template to these rules (the component that gets it refuses
it when it is built, with its own message).
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import Environment, TemplateSyntaxError, nodes

from stackyard.definitions.template_keys import key_findings
from stackyard.errors import PolicyViolation

MAX_EXPONENT = 32
MAX_FACTOR = 10_000
MAX_RANGE = 100_000
ESCAPE_NAMES = frozenset({"mro", "subclasses", "globals", "builtins"})
# Run inputs with this name set the template a builder renders (PromptBuilder, ChatPromptBuilder and their kin):
# refused unless the definition lists the component under `run_time_templates`.
TEMPLATE_SOCKET = "template"

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
        elif isinstance(node, nodes.Mul) and any(_big_literal(side, MAX_FACTOR) for side in (node.left, node.right)):
            yield "template-arithmetic", f"multiplies by a literal beyond {MAX_FACTOR:,} (repetition that explodes)"
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


def _big_literal(node: nodes.Node, limit: int) -> bool:
    if isinstance(node, nodes.Neg | nodes.Pos):
        node = node.node
    return (
        isinstance(node, nodes.Const)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and abs(node.value) > limit
    )
