"""The Liquid environment campaigns are written for: python-liquid 2 with resource limits.

Also the one exception of rendering (``TemplateError``) and the check of one template's source at
save time (``template_problems``), which reports a syntax error with its line.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from liquid import Environment
from liquid.exceptions import LiquidError
from liquid.extra import JSON
from liquid.template import BoundTemplate
from liquid.undefined import Undefined

from wayfare.errors import Problem, WayfareError

SOURCE_MAX = 200_000
"""The longest Liquid string a campaign may hold, in characters."""


class TemplateError(WayfareError):
    """A template could not be rendered."""

    error_code = "template_error"

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


class CampaignEnvironment(Environment):
    """Liquid as campaigns use it: standard tags and filters, limits on what one render may cost.

    Undefined variables render as nothing (Liquid's default); unknown filters are errors; nothing
    is escaped unless the template says ``| escape``. There is no ``{% render %}`` or
    ``{% include %}``: a campaign is one template per field, with no partials to load. One filter
    beyond the standard ones: ``json`` (a value as JSON, ``null`` when undefined), for webhook
    bodies.
    """

    loop_iteration_limit: ClassVar[int | None] = 10_000
    output_stream_limit: ClassVar[int | None] = 1_000_000
    context_depth_limit: ClassVar[int] = 10
    local_namespace_limit: ClassVar[int | None] = 200_000

    def __init__(self) -> None:
        super().__init__(strict_filters=True, autoescape=False)
        for tag in ("render", "include"):
            self.tags.pop(tag, None)
        self.add_filter("json", JSON(default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, Undefined):
        return None
    return str(value)


ENVIRONMENT = CampaignEnvironment()
"""The one environment every campaign template is parsed in."""

OUTPUT_LIMIT: int = CampaignEnvironment.output_stream_limit or 0
"""The most UTF-8 bytes one template may render to."""


def has_liquid(source: str) -> bool:
    """Whether ``source`` holds any Liquid markup (else it renders as itself)."""
    return "{{" in source or "{%" in source


def error_line(error: LiquidError, source: str) -> int:
    """The line of ``source`` the error points at (the last line when it points nowhere)."""
    where = error.context()
    if where is not None:
        return where[0]
    return max(1, len(source.splitlines()))


def describe(error: LiquidError, source: str) -> str:
    """A one-line account of a Liquid error: ``line 3: unexpected tag 'endfor'``."""
    message = str(error.message if error.message is not None else type(error).__name__)
    if error.context() is None:  # a block left open: python-liquid points at no token
        message = message.replace("found end of expression", "found the end of the template")
    return f"line {error_line(error, source)}: {message}"


@lru_cache(maxsize=4096)
def parse(source: str) -> BoundTemplate:
    """``source`` parsed in ``ENVIRONMENT`` (cached); ``LiquidError`` if it is not valid."""
    return ENVIRONMENT.from_string(source)


def template_problems(source: str, where: str) -> list[Problem]:
    """What is wrong with the Liquid template ``source`` (found at ``where``), if anything.

    A syntax error is reported with its line; so is a filter that does not exist.
    """
    if len(source) > SOURCE_MAX:
        return [Problem(where, f"must be at most {SOURCE_MAX} characters", "too_long")]
    if not has_liquid(source):
        return []
    try:
        template = parse(source)
    except LiquidError as exc:
        return [Problem(where, describe(exc, source), "template_syntax")]
    problems = []
    for name, spans in template.analyze(include_partials=False).filters.items():
        if name not in ENVIRONMENT.filters:
            line, _column = spans[0].line_col(source)
            problems.append(
                Problem(where, f"line {line}: unknown filter '{name}'", "template_syntax")
            )
    return problems
