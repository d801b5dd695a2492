"""The API's body checker: what a client sending a wrong body is told, and what is refused."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from agents.api_base import MAX_ID, FieldError, body, check, int_query, read_json, text
from agents.services import ServiceError

TASK = body(
    ["title", "agents"],
    title=text(200, 1),
    mode={"type": "string", "enum": ["queue", "steer", "interrupt"]},
    budget=body([], minutes={"type": "integer", "minimum": 1}, usd={"type": "number", "minimum": 0}),
    agents={"type": "array", "maxItems": 3, "items": body(["name"], name=text(40, 1))},
)


def refusal(value, schema=TASK) -> FieldError:
    with pytest.raises(FieldError) as caught:
        check(value, schema)
    assert caught.value.status == 400
    return caught.value


def test_a_well_formed_body_passes():
    check({"title": "Fix it", "agents": [{"name": "ada"}], "budget": {"minutes": 5, "usd": 1}}, TASK)


def test_a_missing_required_field_is_named():
    error = refusal({"agents": []})
    assert error.field == "title" and error.message == "title is required."


def test_an_unknown_field_is_refused_not_ignored():
    error = refusal({"title": "x", "agents": [], "titel": "typo"})
    assert error.field == "titel"
    assert "is not a field here" in error.message and "title" in error.message


def test_a_nested_problem_names_its_path():
    assert refusal({"title": "x", "agents": [{"name": "ada"}, {"name": " "}]}).field == "agents[1].name"
    assert refusal({"title": "x", "agents": [], "budget": {"minutes": 0}}).field == "budget.minutes"


def test_a_blank_title_is_empty():
    assert refusal({"title": "   ", "agents": []}).message == "title must not be empty."


def test_a_title_over_its_length_is_refused():
    assert "longer than 200" in refusal({"title": "x" * 201, "agents": []}).message


def test_true_is_not_a_number_of_minutes():
    error = refusal({"title": "x", "agents": [], "budget": {"minutes": True}})
    assert error.message == "budget.minutes must be a whole number, not true or false."


def test_a_whole_number_is_accepted_where_a_number_is_expected_but_not_the_reverse():
    check({"title": "x", "agents": [], "budget": {"usd": 3}}, TASK)
    assert "whole number" in refusal({"title": "x", "agents": [], "budget": {"minutes": 1.5}}).message


def test_a_number_beyond_what_the_database_holds_is_out_of_range():
    assert "out of range" in refusal({"title": "x", "agents": [], "budget": {"minutes": MAX_ID + 1}}).message


def test_too_many_items_are_refused():
    assert "more than 3 items" in refusal({"title": "x", "agents": [{"name": "a"}] * 4}).message


def test_a_value_outside_the_choices_is_refused_without_echoing_it():
    secret = "sk-live-0123456789abcdef"
    error = refusal({"title": "x", "agents": [], "mode": secret})
    assert error.message == "mode must be one of: queue, steer, interrupt."
    assert secret not in error.message


def test_a_body_that_is_not_an_object_says_so():
    assert refusal(["title"]).message == "The body must be an object, not a list."


# --- reading the raw body


def request_with(raw: bytes):
    return RequestFactory().post("/api/x", data=raw, content_type="application/json")


@pytest.mark.parametrize(
    "raw, complaint",
    [
        (b"", "Send a JSON object as the body."),
        (b"{not json", "The body is not valid JSON"),
        (b'{"usd": NaN}', "NaN is not a number JSON allows"),
        (b'{"usd": Infinity}', "Infinity is not a number JSON allows"),
        (b'["a list"]', "The body must be a JSON object"),
        (b'{"title": "\xff"}', "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused_with_a_reason(raw, complaint):
    with pytest.raises(ServiceError) as caught:
        read_json(request_with(raw))
    assert caught.value.status == 400
    assert complaint in caught.value.message


def test_an_optional_body_may_be_empty():
    assert read_json(request_with(b"  "), required=False) == {}


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5", str(MAX_ID + 1)])
def test_a_query_number_that_is_not_a_whole_number_is_refused(raw):
    with pytest.raises(FieldError, match="after must be a whole number of 0 or more"):
        int_query(RequestFactory().get("/api/x", {"after": raw}), "after", 0)


def test_a_missing_query_number_takes_its_default():
    assert int_query(RequestFactory().get("/api/x"), "after", 7) == 7
    assert int_query(RequestFactory().get("/api/x", {"after": "12"}), "after", 7) == 12
