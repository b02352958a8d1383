"""Liquid rendering of campaigns: content checks at save time, fast compiled rendering at send time.

The dispatcher compiles a campaign once (``compile_campaign``), builds each message's variables
(``variables``) and renders (``CompiledCampaign.render``); a campaign is checked when it is saved
(``check_content``). See ``docs/templates.md``.
"""

from wayfare.templates.compiled import (
    CompiledCampaign,
    CompiledTemplate,
    compile_campaign,
    compile_template,
    render_string,
)
from wayfare.templates.content import SHAPES, check_content
from wayfare.templates.environment import ENVIRONMENT, TemplateError, template_problems
from wayfare.templates.variables import variables

__all__ = [
    "ENVIRONMENT",
    "SHAPES",
    "CompiledCampaign",
    "CompiledTemplate",
    "TemplateError",
    "check_content",
    "compile_campaign",
    "compile_template",
    "render_string",
    "template_problems",
    "variables",
]
