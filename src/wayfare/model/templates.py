"""The journey template gallery: ready-made journeys and what each needs from an application.

A template's states name their campaigns by slot (``Slot("welcomePush")``); ``build_journey``
turns a template, a name and one campaign id per slot into a journey document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wayfare.errors import InvalidInput, NotFound, Problem


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a template's state names a campaign: replaced by the campaign id of ``key``."""

    key: str


@dataclass(frozen=True, slots=True)
class CampaignNeed:
    """A campaign a template sends: its slot, its channel, and the placeholder made for it."""

    key: str
    channel: str
    name: str
    content: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class FieldNeed:
    """A customer field a template reads or writes, and its type."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class EventNeed:
    """An event type a template waits for or enters on."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class JourneyTemplate:
    """A ready-made journey of the gallery.

    ``states`` and ``settings`` are the journey document with ``Slot`` placeholders;
    ``activation`` the start options the template is meant to be started with.
    """

    id: str
    name: str
    description: str
    states: tuple[Mapping[str, Any], ...]
    campaigns: tuple[CampaignNeed, ...] = ()
    fields: tuple[FieldNeed, ...] = ()
    events: tuple[EventNeed, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    activation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def entry_type(self) -> str:
        """The type of the entry state (``IN_…``)."""
        return next(str(s["type"]) for s in self.states if str(s["type"]).startswith("IN_"))

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels of its campaigns, in order of first use."""
        return tuple(dict.fromkeys(c.channel for c in self.campaigns))

    def to_json(self) -> dict[str, Any]:
        """The template as the gallery lists it (campaign slots as ``null``)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "entryType": self.entry_type,
            "channels": list(self.channels),
            "campaigns": [
                {"key": c.key, "channel": c.channel, "name": c.name} for c in self.campaigns
            ],
            "fields": [{"name": f.name, "type": f.type} for f in self.fields],
            "events": [{"code": e.code, "name": e.name} for e in self.events],
            "activation": dict(self.activation),
            "states": [_filled(s, {}) for s in self.states],
            "settings": _filled(self.settings, {}),
        }


def _push(title: str, body: str) -> dict[str, Any]:
    return {"title": title, "body": body}


def _email(subject: str, text: str) -> dict[str, Any]:
    return {"subject": subject, "text": text, "html": f"<p>{text}</p>"}


SIGNUP = EventNeed("signup", "Signed up")
CART_ADD = EventNeed("cart.add", "Added to cart")
PURCHASE = EventNeed("purchase", "Purchase")

TEMPLATES: tuple[JourneyTemplate, ...] = (
    JourneyTemplate(
        id="welcome-series",
        name="Welcome series",
        description="On sign-up: a welcome push at once, then an email a day later.",
        states=(
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "signup", "forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": Slot("welcomePush")}, "forward": 3},
            },
            {"id": 3, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": 4}},
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": Slot("welcomeEmail")}, "forward": None},
            },
        ),
        campaigns=(
            CampaignNeed(
                "welcomePush", "push", "Welcome push", _push("Welcome!", "Tap to get started.")
            ),
            CampaignNeed(
                "welcomeEmail",
                "email",
                "Welcome email",
                _email("Welcome aboard", "Here is how to make the most of your account."),
            ),
        ),
        events=(SIGNUP,),
    ),
    JourneyTemplate(
        id="birthday",
        name="Birthday greeting",
        description=(
            "On each customer's birthday at 10:00 their time, a greeting email "
            "(start it with reentry on to greet every year)."
        ),
        states=(
            {
                "id": 1,
                "type": "IN_BIRTHDAY",
                "params": {"field": "birthday", "offset": "PT0S", "at": "10:00", "forward": 2},
            },
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": Slot("birthdayEmail")}, "forward": None},
            },
        ),
        campaigns=(
            CampaignNeed(
                "birthdayEmail",
                "email",
                "Birthday email",
                _email("Happy birthday!", "All the best from all of us."),
            ),
        ),
        fields=(FieldNeed("birthday", "date"),),
        activation={"reentry": True},
    ),
    JourneyTemplate(
        id="abandoned-cart",
        name="Abandoned cart",
        description=(
            "After a cart.add, unless a purchase follows within an hour: a push reminder, "
            "then an email a day later; a purchase ends it (the journey's goal)."
        ),
        states=(
            {
                "id": 1,
                "type": "IN_CUSTOM_EVENT",
                "params": {"eventName": "cart.add", "forward": 2},
            },
            {
                "id": 2,
                "type": "FLOW_RETARGETING",
                "params": {
                    "goalEvent": "purchase",
                    "wait": "PT1H",
                    "reminders": [
                        {"campaignId": Slot("cartPush"), "channel": "push"},
                        {"campaignId": Slot("cartEmail"), "channel": "email"},
                    ],
                    "every": "P1D",
                    "converted": {"forward": None},
                    "exhausted": {"forward": None},
                },
            },
        ),
        campaigns=(
            CampaignNeed(
                "cartPush", "push", "Cart reminder push", _push("Still thinking?", "Your cart.")
            ),
            CampaignNeed(
                "cartEmail",
                "email",
                "Cart reminder email",
                _email("You left something behind", "Your cart is waiting for you."),
            ),
        ),
        events=(CART_ADD, PURCHASE),
        settings={"goal": {"eventName": "purchase", "within": "P7D"}},
        activation={"reentry": True},
    ),
    JourneyTemplate(
        id="re-engagement",
        name="Re-engagement",
        description=(
            "For the customers you put in (by ids or CSV): a push; whoever does not click it "
            "within three days gets an email."
        ),
        states=(
            {"id": 1, "type": "IN_LIST", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": Slot("comeBackPush")}, "forward": 3},
            },
            {
                "id": 3,
                "type": "FLOW_PUSH_CLICK",
                "params": {
                    "click": {"campaignId": Slot("comeBackPush"), "forward": None},
                    "timeout": {"time": "P3D", "forward": 4},
                },
            },
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": Slot("comeBackEmail")}, "forward": None},
            },
        ),
        campaigns=(
            CampaignNeed(
                "comeBackPush", "push", "Come-back push", _push("We miss you", "See what's new.")
            ),
            CampaignNeed(
                "comeBackEmail",
                "email",
                "Come-back email",
                _email("It has been a while", "Here is what you missed."),
            ),
        ),
    ),
    JourneyTemplate(
        id="ab-test",
        name="A/B test",
        description=(
            "Everyone, split 50/50 at random between two pushes; the statistics compare "
            "purchases per path, with a confidence interval."
        ),
        states=(
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_RANDOM",
                "params": {"paths": [{"weight": 50, "forward": 3}, {"weight": 50, "forward": 4}]},
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": Slot("variantA")}, "forward": None},
            },
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": Slot("variantB")}, "forward": None},
            },
        ),
        campaigns=(
            CampaignNeed("variantA", "push", "Variant A", _push("New this week", "Have a look.")),
            CampaignNeed("variantB", "push", "Variant B", _push("Just for you", "Tap to see.")),
        ),
        events=(PURCHASE,),
        settings={"goal": {"eventName": "purchase", "within": "P7D"}},
    ),
    JourneyTemplate(
        id="webhook-enrichment",
        name="Webhook enrichment",
        description=(
            "On sign-up, ask your CRM for a score (stored in the field crm_score); customers "
            "scoring 50 or more get a VIP email. Point the webhook's url at your service."
        ),
        states=(
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "signup", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_WEBHOOK",
                "params": {
                    "url": "https://crm.example.com/score/{{ customer.customerId }}",
                    "method": "GET",
                    "timeout": "PT10S",
                    "saveAs": {"crm_score": "score"},
                    "success": {"forward": 3},
                    "failure": {"forward": None},
                },
            },
            {
                "id": 3,
                "type": "FLOW_FILTER",
                "params": {
                    "filter": [{"cond": {"crm_score": {"gte": 50}}, "forward": 4}],
                    "else": {"forward": None},
                },
            },
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": Slot("vipEmail")}, "forward": None},
            },
        ),
        campaigns=(
            CampaignNeed(
                "vipEmail",
                "email",
                "VIP welcome email",
                _email("Welcome to the club", "A few perks are waiting for you."),
            ),
        ),
        fields=(FieldNeed("crm_score", "number"),),
        events=(SIGNUP,),
    ),
)
"""The gallery, in the order the console shows it."""


def find_template(template_id: str) -> JourneyTemplate:
    """The template ``template_id``; ``NotFound`` if the gallery has none such."""
    for template in TEMPLATES:
        if template.id == template_id:
            return template
    known = ", ".join(t.id for t in TEMPLATES)
    raise NotFound(f"journey template {template_id!r} does not exist ({known})")


def build_journey(
    template: JourneyTemplate, name: str, campaign_ids: Mapping[str, int]
) -> dict[str, Any]:
    """The journey document of ``template`` named ``name``, its slots filled from ``campaign_ids``.

    ``InvalidInput`` naming ``campaigns.<key>`` for a slot left without an id.
    """
    missing = [c.key for c in template.campaigns if c.key not in campaign_ids]
    if missing:
        raise InvalidInput(
            problems=[
                Problem(f"campaigns.{k}", "no campaign for this slot", "missing") for k in missing
            ]
        )
    return {
        "name": name,
        "states": [_filled(s, campaign_ids) for s in template.states],
        "settings": _filled(template.settings, campaign_ids),
    }


def _filled(value: Any, campaign_ids: Mapping[str, int]) -> Any:
    """A copy of ``value`` with each ``Slot`` replaced by its id (``None`` when not given)."""
    if isinstance(value, Slot):
        return campaign_ids.get(value.key)
    if isinstance(value, Mapping):
        return {k: _filled(v, campaign_ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(v, campaign_ids) for v in value]
    return value
