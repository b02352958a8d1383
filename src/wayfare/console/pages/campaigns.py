"""Campaigns: the listing, the editor with a live preview for a chosen customer, one-off sends.

The same store functions as ``/v1/campaign`` (``store.campaigns``: content checked by
``check_content``, Liquid errors named by field and line) and ``/v1/campaign/{id}/send/...``
(``store.sendings``). The preview renders the content as ``POST /v1/campaign/{id}/preview`` does
(``channels.rendering.preview`` for one stored customer), but from the editor's unsaved
fields; ``static/campaigns.js`` asks for it as the fields change (``POST
/campaigns/{id}/preview`` answers an HTML fragment), and the "Preview" button does without JS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from wayfare.channels import rendering
from wayfare.console.pages.campaign_form import content_of, fields_of, form_values, place_problems
from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    ViewerContext,
    page,
    problems_of,
    see_other,
    templates,
    utcnow,
    whole_number,
)
from wayfare.engine.wake import notify
from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.store.campaigns import (
    CHANNELS,
    StoredCampaign,
    create_campaign,
    delete_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)
from wayfare.store.common import plain_json
from wayfare.store.customers import customers_page
from wayfare.store.journeys import journeys_using
from wayfare.store.lists import list_lists
from wayfare.store.sendings import send_to_all, send_to_list
from wayfare.templates import TemplateError, check_content

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PER_PAGE = 50
"""Campaigns a page of the listing shows."""

PICKER_SIZE = 20
"""Customers the preview's customer picker suggests."""

CHANNEL_LABELS = {
    "push": "Push",
    "email": "Email",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "inapp": "In-app",
    "wallet": "Wallet",
}


@dataclass(slots=True)
class Preview:
    """A campaign's content rendered for one customer, or why it cannot be."""

    channel: str
    customer_id: str
    content: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)


def render_preview(
    conn: Connection, application_id: int, channel: str, content: Any, customer_id: str
) -> Preview:
    """``content`` checked for ``channel`` and rendered for the stored customer ``customer_id``.

    The API's preview, for content not saved yet: the same check as a save, the same
    variables and compiled templates as a send.
    """
    preview = Preview(channel, customer_id)
    try:
        checked, problems = check_content(channel, plain_json(content, "content"))
    except InvalidInput as error:
        checked, problems = {}, problems_of(error)
    if problems:
        preview.problems = problems
        return preview
    if not customer_id.strip():
        preview.problems = [Problem("customer", "choose a customer to preview for", "required")]
        return preview
    try:
        found = rendering.preview(conn, application_id, channel, checked, customer_id.strip())
        preview.content = found[1]
    except NotFound:
        message = f"there is no customer {customer_id.strip()!r} in this application"
        preview.problems = [Problem("customer", message, "not_found")]
    except TemplateError as error:
        preview.problems = [Problem(error.where, error.reason, error.error_code)]
    return preview


def _listing(
    request: Request,
    viewer: ViewerContext,
    page_number: int = 1,
    *,
    problems: list[Problem] | None = None,
    values: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with viewer.database.read() as conn:
        found = list_campaigns(
            conn, viewer.application_id, limit=PER_PAGE, page=max(page_number, 1) - 1
        )
        ids = [c.id for c in found.items]
        users = journeys_using(conn, viewer.application_id, "campaignId", ids)
    problems = problems or []
    context = {
        "campaigns": found.items,
        "count": found.count,
        "page_number": max(page_number, 1),
        "per_page": PER_PAGE,
        "users": users,
        "channels": [(c, CHANNEL_LABELS.get(c, c)) for c in CHANNELS],
        "labels": CHANNEL_LABELS,
        "problems": problems,
        "errors": {p.where: p.message for p in problems},
        "values": values or {},
    }
    return page(request, "campaigns_list.html", context, status=status, title="Campaigns")


@router.get("/campaigns")
def index(request: Request, viewer: Viewer, page: int = 1) -> Response:
    """The application's campaigns, newest first, and the form that starts a new one."""
    return _listing(request, viewer, page)


def _editor(
    request: Request,
    viewer: ViewerContext,
    *,
    campaign: StoredCampaign | None,
    name: str,
    channel: str,
    values: Mapping[str, str],
    customer_id: str | None = None,
    problems: list[Problem] | None = None,
    preview: Preview | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The editor page, with its preview rendered for ``customer_id`` (the first customer)."""
    with viewer.database.read() as conn:
        picker = customers_page(conn, viewer.application_id, limit=PICKER_SIZE)
        if customer_id is None:
            customer_id = picker[0].customer_id if picker else ""
        if preview is None:
            content, _ = content_of(channel, values)
            preview = render_preview(conn, viewer.application_id, channel, content, customer_id)
        lists = list_lists(conn, viewer.application_id) if campaign else []
    problems = problems or []
    context = {
        "campaign": campaign,
        "name": name,
        "channel": channel,
        "channel_label": CHANNEL_LABELS.get(channel, channel),
        "fields": fields_of(channel),
        "values": values,
        "customer_id": customer_id,
        "picker": picker,
        "problems": problems,
        "errors": place_problems(channel, problems, ("name", "channel")),
        "preview": preview,
        "lists": lists,
        "action": f"/campaigns/{campaign.id}" if campaign else "/campaigns/new",
        "preview_url": f"/campaigns/{campaign.id if campaign else 'new'}/preview",
    }
    title = campaign.name if campaign else f"New {CHANNEL_LABELS.get(channel, channel)} campaign"
    return page(request, "campaigns_editor.html", context, status=status, title=title)


@router.get("/campaigns/new")
def new(request: Request, viewer: Viewer, channel: str = "", name: str = "") -> Response:
    """An empty editor for a new campaign of ``channel``."""
    if channel not in CHANNELS:
        problem = Problem("channel", f"choose one of {', '.join(CHANNELS)}", "unknown")
        values = {"name": name, "channel": channel}
        return _listing(request, viewer, problems=[problem], values=values, status=400)
    return _editor(
        request, viewer, campaign=None, name=name, channel=channel, values=form_values(channel, {})
    )


def _posted(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _save(
    request: Request,
    viewer: ViewerContext,
    campaign: StoredCampaign | None,
    form: Mapping[str, Any],
) -> Response:
    """Check and store the posted campaign (or show it with a preview when that was asked)."""
    channel = campaign.channel if campaign else _posted(form, "channel")
    if channel not in CHANNELS:
        return new(request, viewer, channel, _posted(form, "name"))
    name = _posted(form, "name")
    values = {f.name: _posted(form, f.name) for f in fields_of(channel)}
    customer_id = _posted(form, "customer")[:200]
    content, problems = content_of(channel, form)

    def again(problems: list[Problem] | None = None, status: int = 200) -> HTMLResponse:
        return _editor(
            request,
            viewer,
            campaign=campaign,
            name=name,
            channel=channel,
            values=values,
            customer_id=customer_id,
            problems=problems,
            status=status,
        )

    if _posted(form, "action") == "preview":
        return again()
    if problems:  # a field that is not JSON: nothing is stored
        return again(problems + check_content(channel, content)[1], 400)
    try:
        with viewer.database.write() as conn:
            if campaign is None:
                campaign_id = create_campaign(
                    conn, viewer.application_id, name, channel, content, utcnow()
                )
            else:
                campaign_id = update_campaign(
                    conn, viewer.application_id, campaign.id, utcnow(), name=name, content=content
                ).id
    except (InvalidInput, Conflict) as error:
        return again(problems_of(error), 400)
    saved = "Campaign created." if campaign is None else "Campaign saved."
    return see_other(f"/campaigns/{campaign_id}?{urlencode({'customer': customer_id})}", saved)


@router.post("/campaigns/new")
async def create(request: Request, viewer: Viewer, _csrf: Changing) -> Response:
    """Create the campaign of the new-campaign editor."""
    form = await request.form()
    return await run_in_threadpool(_save, request, viewer, None, form)


def _campaign(viewer: ViewerContext, campaign_id: int) -> StoredCampaign:
    with viewer.database.read() as conn:
        return get_campaign(conn, viewer.application_id, campaign_id)


@router.get("/campaigns/{campaign_id:int}")
def edit(
    request: Request, viewer: Viewer, campaign_id: int, customer: str | None = None
) -> Response:
    """The editor of a campaign, its preview rendered for a customer (the first by default)."""
    campaign = _campaign(viewer, campaign_id)
    values = form_values(campaign.channel, campaign.content)
    return _editor(
        request,
        viewer,
        campaign=campaign,
        name=campaign.name,
        channel=campaign.channel,
        values=values,
        customer_id=customer[:200] if customer else None,
    )


def _save_existing(
    request: Request, viewer: ViewerContext, campaign_id: int, form: Mapping[str, Any]
) -> Response:
    return _save(request, viewer, _campaign(viewer, campaign_id), form)


@router.post("/campaigns/{campaign_id:int}")
async def update(request: Request, viewer: Viewer, campaign_id: int, _csrf: Changing) -> Response:
    """Save the campaign's name and content (``action=preview``: only show the preview)."""
    form = await request.form()
    return await run_in_threadpool(_save_existing, request, viewer, campaign_id, form)


def _preview_fragment(
    request: Request, viewer: ViewerContext, ref: str, form: Mapping[str, Any]
) -> Response:
    if ref == "new":
        channel = _posted(form, "channel")
        if channel not in CHANNELS:
            raise InvalidInput(problems=[Problem("channel", "choose a channel", "unknown")])
    elif (campaign_id := whole_number(ref)) is not None:
        channel = _campaign(viewer, campaign_id).channel
    else:
        raise NotFound(f"campaign {ref!r} does not exist")
    content, problems = content_of(channel, form)
    customer_id = _posted(form, "customer")[:200]
    with viewer.database.read() as conn:
        preview = render_preview(conn, viewer.application_id, channel, content, customer_id)
    preview.problems = problems + preview.problems
    return templates.TemplateResponse(
        request,
        "campaigns_preview.html",
        {"preview": preview, "labels": CHANNEL_LABELS},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/campaigns/{ref}/preview")
async def preview(request: Request, viewer: Viewer, ref: str, _csrf: Changing) -> Response:
    """The preview pane (an HTML fragment) for the editor's unsaved fields and customer."""
    form = await request.form()
    return await run_in_threadpool(_preview_fragment, request, viewer, ref, form)


@router.post("/campaigns/{campaign_id:int}/delete")
def delete(request: Request, viewer: Viewer, campaign_id: int, _csrf: Changing) -> Response:
    """Delete the campaign (refused, naming the journey, while an active journey uses it)."""
    try:
        with viewer.database.write() as conn:
            delete_campaign(conn, viewer.application_id, campaign_id)
    except Conflict as error:
        return _listing(request, viewer, problems=problems_of(error), status=409)
    return see_other("/campaigns", f"Campaign {campaign_id} deleted.")


@router.post("/campaigns/{campaign_id:int}/send")
def send(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    _csrf: Changing,
    audience: Annotated[str, Form(max_length=40)],
) -> Response:
    """Send the campaign now to every customer (``all``) or to a contact list (``list:<id>``)."""
    now = utcnow()
    with viewer.database.write() as conn:
        if audience == "all":
            report = send_to_all(conn, viewer.application_id, campaign_id, now)
        elif audience.startswith("list:") and (list_id := whole_number(audience[5:])) is not None:
            report = send_to_list(conn, viewer.application_id, campaign_id, list_id, now)
        else:
            raise InvalidInput(problems=[Problem("audience", "choose everyone or a list")])
        notify(conn)
    count = report.sending.total
    notice = f"Sending {report.sending.id}: {count:,} message{'s' if count != 1 else ''} queued."
    return see_other(f"/campaigns/{campaign_id}", notice)
