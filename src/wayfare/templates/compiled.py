"""Compiled templates: a campaign's Liquid strings turned into functions of the render variables.

Most campaign templates are text with a few ``{{ variable | filter }}`` outputs and simple
``{% if variable %}`` blocks. Those compile to one small Python function (string concatenation) that
gives exactly what python-liquid renders, about ten times faster; every other template is rendered
by python-liquid itself. The fast subset, all with python-liquid's own semantics:

- text, and output statements whose expression is a variable path of names (``first_name``,
  ``customer.email``, ``context["order id"]``) followed by the filters ``default`` (no argument or
  one literal), ``upcase``, ``downcase`` and ``capitalize``;
- ``{% if path %}`` / ``{% elsif path %}`` / ``{% else %}`` / ``{% endif %}`` on such a path
  (truthy: anything but nil, false and a missing value), around the same subset.

Paths whose first name is one python-liquid resolves by itself (``now``, ``today``, ``partial``) or
that use ``size``, ``first``, ``last`` or an index are left to python-liquid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid.ast import BlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import BooleanExpression, FilteredExpression, Nil, Path
from liquid.builtin.expressions.primitive import (
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.exceptions import LiquidError
from liquid.expression import Expression
from liquid.stringify import to_liquid_string
from liquid.template import BoundTemplate

from wayfare.templates.content import strings
from wayfare.templates.environment import (
    OUTPUT_LIMIT,
    TemplateError,
    describe,
    has_liquid,
    parse,
)
from wayfare.templates.variables import RESERVED

Render = Callable[[Mapping[str, Any]], str]
"""A compiled template: the render variables to the text."""

SCOPE_ROOTS = frozenset({"now", "today", "partial"})
"""Names python-liquid resolves itself (its built-ins and the render namespace): not compiled."""

SPECIAL_KEYS = frozenset({"size", "first", "last"})
"""Path segments with python-liquid behaviour beyond a lookup: not compiled."""

_LITERALS = (StringLiteral, IntegerLiteral, FloatLiteral, TrueLiteral, FalseLiteral, Nil)


class _Unsupported(Exception):
    """The template is outside the fast subset."""


# -- the helpers compiled code calls (each mirrors python-liquid exactly) ------------------------


def _lookup(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or ``None`` (Liquid's undefined) where a step fails."""
    for key in keys:
        try:
            value = value[key]
        except (KeyError, TypeError, IndexError):
            return None
    return value


def _text(value: Any) -> str:
    """``to_liquid_string``: what an output statement writes for ``value``."""
    if type(value) is str:
        return value
    return to_liquid_string(value, False)


def _string_arg(value: Any) -> str:
    """python-liquid's ``string_filter`` conversion of a filter's input."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value)


def _upcase(value: Any) -> str:
    return _string_arg(value).upper()


def _downcase(value: Any) -> str:
    return _string_arg(value).lower()


def _capitalize(value: Any) -> str:
    return _string_arg(value).capitalize()


def _default(value: Any, fallback: Any = "") -> Any:
    """python-liquid's ``default`` (plain values: no ``__liquid__``; undefined is ``None``)."""
    if value is None or value is False:
        return fallback
    if type(value) in (int, float):
        return value
    if isinstance(value, list | dict | str) and not value:
        return fallback
    return value


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


_HELPERS: dict[str, Any] = {
    "_lookup": _lookup,
    "_text": _text,
    "_truthy": _truthy,
    "_default": _default,
    "_upcase": _upcase,
    "_downcase": _downcase,
    "_capitalize": _capitalize,
}

_FILTERS = {"upcase": "_upcase", "downcase": "_downcase", "capitalize": "_capitalize"}


# -- the compiler ----------------------------------------------------------------------------------


class _Compiler:
    """Turns the nodes of one parsed template into the source of one Python expression."""

    def __init__(self) -> None:
        self.constants: dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def path(self, expression: Expression) -> str:
        if not isinstance(expression, Path):
            raise _Unsupported
        segments = expression.path
        if not all(isinstance(s, str) for s in segments):
            raise _Unsupported
        root, *rest = segments
        if root in SCOPE_ROOTS or any(s in SPECIAL_KEYS for s in rest):
            raise _Unsupported
        value = f"_get({self.constant(root)})"
        if rest:
            keys = ", ".join(self.constant(s) for s in rest)
            value = f"_lookup({value}, {keys})"
        return value

    def output(self, expression: Expression) -> str:
        if not isinstance(expression, FilteredExpression):
            raise _Unsupported
        value = self.path(expression.left)
        for item in expression.filters or ():
            if item.name in _FILTERS and not item.args:
                value = f"{_FILTERS[item.name]}({value})"
            elif item.name == "default" and not item.args:
                value = f"_default({value})"
            elif item.name == "default" and len(item.args) == 1:
                argument = item.args[0]
                if getattr(argument, "name", None) is not None or not isinstance(
                    argument.value, _LITERALS
                ):
                    raise _Unsupported
                literal = None if isinstance(argument.value, Nil) else argument.value.value
                value = f"_default({value}, {self.constant(literal)})"
            else:
                raise _Unsupported
        return f"_text({value})"

    def condition(self, expression: Expression) -> str:
        if not isinstance(expression, BooleanExpression):
            raise _Unsupported
        return f"_truthy({self.path(expression.expression)})"

    def node(self, node: Node) -> str:
        if type(node) is ContentNode:
            return self.constant(node.text) if node.text else ""
        if type(node) is OutputNode:
            return self.output(node.expression)
        if type(node) is IfNode:
            if node.blank:  # python-liquid writes nothing for a blank block
                return ""
            branches = [(self.condition(node.condition), self.block(node.consequence))]
            for alternative in node.alternatives:
                branches.append(
                    (self.condition(alternative.expression), self.block(alternative.block))
                )
            otherwise = self.block(node.default) if node.default is not None else "''"
            for test, body in reversed(branches):
                otherwise = f"({body} if {test} else {otherwise})"
            return otherwise
        raise _Unsupported

    def block(self, block: BlockNode) -> str:
        if type(block) is not BlockNode:
            raise _Unsupported
        if block.blank:  # python-liquid writes nothing for a blank branch (each on its own)
            return "''"
        return self.sequence(block.nodes)

    def sequence(self, nodes: Sequence[Node]) -> str:
        parts = [part for part in (self.node(n) for n in nodes) if part]
        if not parts:
            return "''"
        if len(parts) == 1:
            return parts[0]
        if len(parts) <= 6:
            return "(" + " + ".join(parts) + ")"
        return "''.join((" + ", ".join(parts) + ",))"


def fast_render(template: BoundTemplate) -> Render | None:
    """The fast function for ``template``, or ``None`` when it is outside the fast subset."""
    compiler = _Compiler()
    try:
        body = compiler.sequence(template.nodes)
    except _Unsupported:
        return None
    # The code holds only helper and constant names: every text, key and literal of the
    # template is a constant in the namespace, never spliced into the source.
    namespace: dict[str, Any] = {**_HELPERS, **compiler.constants}
    code = f"def render(variables):\n    _get = variables.get\n    return {body}\n"
    exec(compile(code, "<wayfare template>", "exec"), namespace)
    render: Render = namespace["render"]
    return render


def _liquid_render(template: BoundTemplate) -> Render:
    def render(variables: Mapping[str, Any]) -> str:
        return template.render(variables)

    return render


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """One Liquid string, ready to render many times."""

    source: str
    render_text: Render
    fast: bool
    roots: frozenset[str] = frozenset()
    """The top-level variables the template reads (``first_name``, ``customer``, ...)."""

    def render(self, variables: Mapping[str, Any], where: str = "") -> str:
        """The text for ``variables``; ``TemplateError`` naming ``where`` if it cannot render."""
        try:
            text = self.render_text(variables)
        except LiquidError as exc:
            raise TemplateError(where, describe(exc, self.source)) from exc
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
            raise TemplateError(where, f"{type(exc).__name__}: {exc}") from exc
        if len(text) * 4 > OUTPUT_LIMIT and len(text.encode()) > OUTPUT_LIMIT:
            raise TemplateError(where, "output stream limit reached")
        return text


def _constant(source: str) -> Render:
    def render(variables: Mapping[str, Any]) -> str:
        return source

    return render


@lru_cache(maxsize=4096)
def compile_template(source: str) -> CompiledTemplate:
    """``source`` compiled (cached by source); ``TemplateError`` if it does not parse."""
    if not has_liquid(source):
        return CompiledTemplate(source, _constant(source), True)
    try:
        template = parse(source)
    except LiquidError as exc:
        raise TemplateError("", describe(exc, source)) from exc
    fast = fast_render(template)
    roots = frozenset(template.global_variables())
    if fast is not None:
        return CompiledTemplate(source, fast, True, roots)
    return CompiledTemplate(source, _liquid_render(template), False, roots)


def render_string(source: str, variables: Mapping[str, Any], where: str = "template") -> str:
    """Render one Liquid string (a webhook's URL or body).

    ``TemplateError`` naming ``where`` if it does not parse or cannot render.
    """
    try:
        compiled = compile_template(source)
    except TemplateError as exc:
        raise TemplateError(where, exc.reason) from exc
    return compiled.render(variables, where)


Builder = Callable[[Mapping[str, Any]], Any]


def _builder(value: Any, where: str) -> Builder:
    """A function of the variables that builds ``value`` with its Liquid strings rendered."""
    if isinstance(value, str):
        if not has_liquid(value):
            return lambda variables: value
        try:
            template = compile_template(value)
        except TemplateError as exc:
            raise TemplateError(where, exc.reason) from exc
        render = template.render
        return lambda variables: render(variables, where)
    if isinstance(value, Mapping):
        items = [(key, _builder(item, f"{where}.{key}")) for key, item in value.items()]
        return lambda variables: {key: build(variables) for key, build in items}
    if isinstance(value, list | tuple):
        builders = [_builder(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return lambda variables: [build(variables) for build in builders]
    return lambda variables: value


@dataclass(frozen=True, slots=True)
class CompiledCampaign:
    """A campaign's content compiled once, to render for many customers."""

    channel: str
    content: Mapping[str, Any]
    build: Builder
    fast: bool
    """Whether every Liquid string of the content is on the fast path."""
    roots: frozenset[str] = frozenset()
    """The top-level variables its templates read."""

    @property
    def fields_only(self) -> bool:
        """Whether it reads nothing but customer fields (then ``render(fields)`` is enough)."""
        return self.fast and not self.roots & set(RESERVED)

    def render(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The content with every Liquid string rendered (other values as they are).

        Raises ``TemplateError`` naming the field (``content.body: output stream limit
        reached``) when a string cannot be rendered.
        """
        rendered: dict[str, Any] = self.build(variables)
        return rendered


def compile_campaign(channel: str, content: Mapping[str, Any]) -> CompiledCampaign:
    """Compile a (stored) campaign's content; ``TemplateError`` if a string does not parse."""
    build = _builder(dict(content), "content")
    templates = [compile_template(source) for _where, source in strings(content, "content")]
    fast = all(template.fast for template in templates)
    roots = frozenset().union(*(template.roots for template in templates))
    return CompiledCampaign(channel, content, build, fast, roots)
