"""Campaign templates: content checks, variables, the compiled fast path against python-liquid."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wayfare.demo import CAMPAIGNS
from wayfare.errors import WayfareError
from wayfare.model.customers import Customer
from wayfare.templates import (
    TemplateError,
    check_content,
    compile_campaign,
    compile_template,
    render_string,
    variables,
)
from wayfare.templates.environment import ENVIRONMENT, parse

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def liquid(source: str, values: dict[str, Any]) -> str:
    """What python-liquid itself renders."""
    return ENVIRONMENT.from_string(source).render(values)


# ------------------------------------------------------------------ content checks


@pytest.mark.parametrize(
    ("channel", "content"),
    [
        ("push", {"title": "Hi {{ first_name }}", "body": "b", "image": "https://i.test/a.png"}),
        (
            "push",
            {
                "title": "t",
                "body": "b",
                "deepLink": "app://cart/{{ context.cart }}",
                "buttons": [{"label": "Open", "url": "https://x.test"}],
                "data": {"cart": "{{ context.cart }}", "n": 3, "flag": True},
            },
        ),
        ("email", {"subject": "s", "text": "t", "from": "a@x.test", "replyTo": "b@x.test"}),
        ("sms", {"text": "{{ first_name | default: 'hi' }}"}),
        ("whatsapp", {"text": "hello", "media": {"type": "image", "url": "https://i.test/a"}}),
        ("whatsapp", {"template": "order", "language": "es", "parameters": ["{{ x }}", 3]}),
        ("telegram", {"text": "<b>hi</b>", "parseMode": "HTML", "buttons": []}),
        ("inapp", {"card": {"title": "t", "body": "b"}, "expiresIn": "P7D"}),
        ("wallet", {"fields": {"points": "{{ points }}", "level": 2}, "message": "m"}),
    ],
)
def test_good_content_is_accepted_as_given(channel: str, content: dict[str, Any]) -> None:
    assert check_content(channel, content) == (content, [])


def test_demo_campaigns_are_accepted() -> None:
    for _name, channel, content in CAMPAIGNS:
        assert check_content(channel, content) == (content, [])


def test_optional_nulls_are_dropped() -> None:
    normalized, problems = check_content("push", {"title": "t", "body": "b", "image": None})
    assert (normalized, problems) == ({"title": "t", "body": "b"}, [])


@pytest.mark.parametrize(
    ("channel", "content", "problems"),
    [
        ("sms", {}, ["content.text: required"]),
        ("sms", {"text": 3}, ["content.text: expected a string"]),
        ("sms", {"text": ""}, ["content.text: must not be empty"]),
        ("sms", {"text": "x", "body": "y"}, ["content.body: unknown key"]),
        (
            "push",
            {"title": "t", "body": "b", "buttons": [{"label": "a", "url": "u"}, {"label": "b"}]},
            ["content.buttons[1].url: required"],
        ),
        (
            "push",
            {"title": "t", "body": "b", "data": {"k": [1]}},
            ["content.data.k: expected a string, number or boolean, got list"],
        ),
        ("email", {"subject": "s"}, ["content.html: an email needs html, text or both"]),
        (
            "whatsapp",
            {"text": "a", "template": "b"},
            ["content.text: give either text or template"],
        ),
        ("whatsapp", {"text": "a", "language": "es"}, ["content.language: only with a template"]),
        ("inapp", {}, ["content.html: give either html or card"]),
        (
            "wallet",
            {"fields": {}},
            ["content.fields: must not be empty"],
        ),
        ("sms", ["x"], ["content: must be an object"]),
        ("fax", {}, ["channel: 'fax' has no campaign content"]),
        (
            "email",
            {"subject": "Hi {{ name", "html": "<p>\n{% if x %}\n{% endfor %}</p>"},
            [
                "content.subject: line 1: expected '}}', found end of file",
                "content.html: line 3: unexpected tag 'endfor'",
            ],
        ),
        ("sms", {"text": "{{ a | shout }}"}, ["content.text: line 1: unknown filter 'shout'"]),
        ("sms", {"text": "{% include 'x' %}"}, ["content.text: line 1: unexpected tag 'include'"]),
    ],
)
def test_problems_name_the_field(channel: str, content: Any, problems: list[str]) -> None:
    _normalized, found = check_content(channel, content)
    assert [str(p) for p in found] == problems


def test_template_errors_are_reported_with_shape_errors() -> None:
    _normalized, found = check_content("sms", {"text": "{% if %}", "extra": 1})
    assert [p.where for p in found] == ["content.extra", "content.text"]


# ------------------------------------------------------------------ variables


def customer(**fields: Any) -> Customer:
    return Customer(
        customer_id="c-1",
        email="ana@example.com",
        phone="+34600111222",
        whatsapp=None,
        telegram_chat_id="42",
        push_tokens=(),
        consent={},
        timezone="Europe/Madrid",
        language="es",
        fields=fields,
        created_at=NOW,
        updated_at=NOW,
    )


def test_variables_hold_fields_customer_context_and_event() -> None:
    found = variables(
        customer(first_name="Ana", points=12, event="field", context="field"),
        "c-1",
        {"order": "A-7"},
        {"eventCode": "purchase", "date": NOW, "customData": {"sku": "X"}, "eventId": "e"},
    )
    assert found["first_name"] == "Ana" and found["points"] == 12
    assert found["customer"] == {
        "customerId": "c-1",
        "email": "ana@example.com",
        "phone": "+34600111222",
        "whatsapp": None,
        "telegramChatId": "42",
        "language": "es",
        "timezone": "Europe/Madrid",
        "first_name": "Ana",
        "points": 12,
        "event": "field",
        "context": "field",
    }
    assert found["context"] == {"order": "A-7"}
    assert found["event"] == {
        "eventCode": "purchase",
        "date": "2026-03-15T12:00:00Z",
        "customData": {"sku": "X"},
    }
    text = "{{ first_name }} {{ customer.email }} {{ context.order }} {{ event.customData.sku }}"
    assert render_string(text, found) == "Ana ana@example.com A-7 X"


def test_reserved_names_win_even_without_an_event() -> None:
    found = variables(customer(event="field", customer="field"), "c-1", None, None)
    assert "event" not in found and found["context"] == {}
    assert found["customer"]["customerId"] == "c-1"
    assert render_string("[{{ event }}]", found) == "[]"


def test_an_unknown_customer_has_only_its_id() -> None:
    found = variables(None, "c-9", {"x": 1}, None)
    assert found == {"customer": {"customerId": "c-9"}, "context": {"x": 1}}
    assert render_string("{{ first_name | default: 'friend' }}", found) == "friend"


# ------------------------------------------------------------------ compiled campaigns


def test_a_campaign_renders_every_liquid_string_and_keeps_the_rest() -> None:
    content = {
        "title": "Hi {{ first_name | default: 'friend' }}",
        "body": "{% for i in (1..3) %}{{ i }}{% endfor %}",
        "buttons": [{"label": "{{ first_name | upcase }}", "url": "https://x.test/{{ id }}"}],
        "data": {"n": 3, "flag": True, "plain": "no liquid"},
    }
    compiled = compile_campaign("push", content)
    assert not compiled.fast  # the for loop falls back to python-liquid
    rendered = compiled.render({"first_name": "ana", "id": 7})
    assert rendered == {
        "title": "Hi ana",
        "body": "123",
        "buttons": [{"label": "ANA", "url": "https://x.test/7"}],
        "data": {"n": 3, "flag": True, "plain": "no liquid"},
    }
    assert compiled.render({})["title"] == "Hi friend"
    assert content["title"] == "Hi {{ first_name | default: 'friend' }}"  # not changed
    assert compile_campaign("sms", {"text": "{{ a }}{% if b %}!{% endif %}"}).fast


def test_each_render_builds_new_containers() -> None:
    compiled = compile_campaign("push", {"title": "t", "body": "b", "data": {"k": "v"}})
    first = compiled.render({})
    first["data"]["k"] = "changed"
    assert compiled.render({}) == {"title": "t", "body": "b", "data": {"k": "v"}}


def test_an_event_date_is_canonical_utc_text() -> None:
    naive = variables(None, "c-1", None, {"eventCode": "x", "date": datetime(2026, 3, 15, 12)})
    assert naive["event"] == {"eventCode": "x", "date": "2026-03-15T12:00:00Z", "customData": {}}
    text = variables(None, "c-1", None, {"eventCode": "x", "date": "2026-03-15T12:00:00Z"})
    assert text["event"]["date"] == "2026-03-15T12:00:00Z"


def test_strings_without_liquid_are_returned_as_they_are() -> None:
    text = "50% off {not liquid} }} %}"
    assert compile_template(text).render({}) is text


def test_a_syntax_error_at_compile_names_the_field() -> None:
    with pytest.raises(TemplateError) as raised:
        compile_campaign("push", {"title": "t", "body": "a\n{% endif %}"})
    assert str(raised.value) == "content.body: line 2: unexpected tag 'endif'"
    assert isinstance(raised.value, WayfareError)


@pytest.mark.parametrize(
    "body",
    [
        "{{ big }}{{ big }}",  # fast path
        "{% for i in (1..2) %}{{ big }}{% endfor %}",  # python-liquid
    ],
)
def test_the_output_limit_fails_the_render_naming_the_field(body: str) -> None:
    compiled = compile_campaign("push", {"title": "t", "body": body})
    big = "é" * 300_000  # 600,000 UTF-8 bytes
    assert compiled.render({"big": "é" * 1000})["body"] == "é" * 2000
    with pytest.raises(TemplateError) as raised:
        compiled.render({"big": big})
    assert str(raised.value).startswith("content.body: ")
    assert "output stream limit" in str(raised.value)


def test_render_errors_name_the_field() -> None:
    compiled = compile_campaign("sms", {"text": "a\n{{ n | divided_by: 0 }}"})
    with pytest.raises(TemplateError) as raised:
        compiled.render({"n": 5})
    assert str(raised.value) == "content.text: line 2: divided_by: can't divide by 0"
    loop = "{% for i in (1..100000) %}{% endfor %}"
    with pytest.raises(TemplateError, match=r"^template: line 1: loop iteration limit reached$"):
        render_string(loop, {})
    with pytest.raises(TemplateError, match=r"^template: line 1: unexpected tag 'endif'$"):
        render_string("{% endif %}", {})


def test_the_json_filter_writes_json_for_webhook_bodies() -> None:
    body = '{"name": {{ first_name | json }}, "tags": {{ tags | json }}, "x": {{ x | json }}}'
    values = {"first_name": 'Ana "A"', "tags": ["a", 1, True, None]}
    assert render_string(body, values) == (
        '{"name": "Ana \\"A\\"", "tags": ["a", 1, true, null], "x": null}'
    )


# ------------------------------------------------------------------ the fast path is python-liquid

NAMES = ["a", "b", "vip", "customer", "context", "first_name"]
PATHS = [*NAMES, "customer.email", "context.a.b", "a.b", "b.a", 'customer["email"]', "x.y.z"]
FILTERS = [
    "upcase",
    "downcase",
    "capitalize",
    "default",
    "default: 'friend'",
    'default: ""',
    "default: 0",
    "default: 2.5",
    "default: nil",
    "default: true",
    "default: false",
]

scalars = st.one_of(
    st.text(max_size=6),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "email", "z", "y"]), inner, max_size=3),
    ),
    max_leaves=6,
)
scopes = st.dictionaries(st.sampled_from([*NAMES, "x"]), values, max_size=6)

texts = st.one_of(
    st.sampled_from([" ", "\n", " \n\t"]),  # blank: a block of only these is not written
    st.text(alphabet=st.sampled_from("ab \n\t<>é{}%-"), max_size=6).filter(
        lambda t: "{{" not in t and "{%" not in t and not t.endswith("{")
    ),
)


@st.composite
def outputs(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(PATHS))
    filters = draw(st.lists(st.sampled_from(FILTERS), max_size=3))
    left, right = draw(st.sampled_from(["{{", "{{-"])), draw(st.sampled_from(["}}", "-}}"]))
    return f"{left} {' | '.join([path, *filters])} {right}"


def blocks(depth: int) -> st.SearchStrategy[str]:
    parts: list[st.SearchStrategy[str]] = [texts, outputs()]
    if depth > 0:
        parts.append(ifs(depth - 1))
    return st.lists(st.one_of(parts), max_size=4).map("".join)


@st.composite
def ifs(draw: st.DrawFn, depth: int) -> str:
    def tag(name: str) -> str:
        left, right = draw(st.sampled_from(["", "-"])), draw(st.sampled_from(["", "-"]))
        return "{%" + left + f" {name} " + right + "%}"

    source = tag(f"if {draw(st.sampled_from(PATHS))}") + draw(blocks(depth))
    for _ in range(draw(st.integers(0, 2))):
        source += tag(f"elsif {draw(st.sampled_from(PATHS))}") + draw(blocks(depth))
    if draw(st.booleans()):
        source += tag("else") + draw(blocks(depth))
    return source + tag("endif")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=blocks(2), scope=scopes)
@example(source="a{% if vip %} \n{% else %}\t{% endif %}b", scope={"vip": True})
@example(source="{% if vip %} {% if a %}{{ a }}{% endif %}{% endif %}", scope={"vip": 0, "a": 1})
@example(source="{% if b %}<{% elsif a %} {% endif %}", scope={"a": []})  # a blank branch
def test_the_fast_path_renders_what_python_liquid_renders(
    source: str, scope: dict[str, Any]
) -> None:
    compiled = compile_template(source)
    assert compiled.fast, source
    assert compiled.render(scope) == liquid(source, scope)


@pytest.mark.parametrize(
    "source",
    [
        "{{ now }}",
        "{{ partial }}",
        "{{ a.size }}",
        "{{ a.first }}",
        "{{ a[0] }}",
        "{{ a[b] }}",
        "{{ 'x' | upcase }}",
        "{{ a | default: b }}",
        "{{ a | default: 'x', allow_false: true }}",
        "{{ a | append: 'x' }}",
        "{% if a == 1 %}x{% endif %}",
        "{% unless a %}x{% endunless %}",
        "{% assign b = a %}{{ b }}",
    ],
)
def test_outside_the_subset_python_liquid_renders(source: str) -> None:
    compiled = compile_template(source)
    assert not compiled.fast
    scope = {"a": ["p", "q"], "b": "", "partial": "mine"}
    if "now" not in source:
        assert compiled.render(scope) == liquid(source, scope)


def test_the_parse_cache_gives_one_template_per_source() -> None:
    assert parse("{{ a }}") is parse("{{ a }}")


def test_the_event_that_enrolled_the_customer_is_the_event_variable() -> None:
    context = {"coupon": "X1", "event": {"code": "cart.add", "data": {"product": "Shoes"}}}
    found = variables(None, "c-1", context, None)
    assert found["event"] == {
        "eventCode": "cart.add",
        "date": None,
        "customData": {"product": "Shoes"},
    }
    given = variables(None, "c-1", context, {"eventCode": "purchase", "customData": {}})
    assert given["event"]["eventCode"] == "purchase"  # an event given wins
    assert "event" not in variables(None, "c-1", {"coupon": "X1"}, None)
