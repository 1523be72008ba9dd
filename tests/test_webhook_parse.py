"""parse(): the runtime's three webhook shapes, timestamps, and hostile payloads."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from muxi_proto import webhook
from muxi_proto.errors import WebhookVerificationError
from muxi_proto.webhook import Clarification, ContentItem, ErrorDetails, WebhookEvent

FIXTURE = Path(__file__).parent / "fixtures" / "runtime-webhooks.jsonl"
RAW: bytes = json.loads(FIXTURE.read_text().splitlines()[0])["raw"].encode()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=16,
)
KNOWN_KEYS = [
    "id", "request_id", "status", "state", "timestamp", "response", "error", "formation_id", "user_id",
    "processing_time", "processing_mode", "webhook_url", "clarification_question",
    "clarification_request_id", "original_message", "attempts", "result", "report",
]


def test_real_completion_capture() -> None:
    event = webhook.parse(RAW)
    assert event.request_id == "req_ua3plOOgTyOQYJLK2mmwU"
    assert event.status == "completed"
    assert event.kind == "response"
    assert event.timestamp == 1795945191  # the runtime sent milliseconds
    assert event.timestamp_raw == 1795945191337
    assert event.occurred_at == datetime(2026, 11, 29, 9, 39, 51, 337000, tzinfo=timezone.utc)
    assert event.content == [
        ContentItem(
            type="text",
            text="Hello from the fake model.",
            raw={"type": "text", "text": "Hello from the fake model."},
        )
    ]
    assert event.text == "Hello from the fake model."
    assert event.error is None and event.clarification is None
    assert event.formation_id == "proto-test"
    assert event.user_id == "0"
    assert event.processing_time == pytest.approx(0.41510868072509766)
    assert event.processing_mode == "async"
    assert event.webhook_url == "http://127.0.0.1:18999/hook"
    assert event.raw == json.loads(RAW)
    assert webhook.parse(RAW.decode()) == event
    assert webhook.parse(json.loads(RAW)) == event


def test_failed_completion() -> None:
    payload = {
        "id": "req_F", "object": "response", "status": "failed", "timestamp": 1795945191337,
        "formation_id": "f", "user_id": "u", "processing_time": 0.01, "processing_mode": "async",
        "webhook_url": "http://127.0.0.1:1/h",
        "error": {"code": "processing_failed", "message": "model unavailable", "trace": None},
        "response": [],
    }
    event = webhook.parse(json.dumps(payload))
    assert event.status == "failed"
    assert event.error == ErrorDetails(code="processing_failed", message="model unavailable", trace=None)
    assert event.content == []
    assert event.request_id == "req_F"


def test_clarification_shape() -> None:
    payload = {
        "request_id": "req_C", "status": "awaiting_clarification",
        "clarification_question": "Which city?", "clarification_request_id": "clr_1",
        "original_message": "weather please", "user_id": "u1", "timestamp": 1795945191.7503,
    }
    event = webhook.parse(json.dumps(payload).encode())
    assert event.kind == "clarification"
    assert event.request_id == "req_C"  # the official SDK reads only "id" and loses it
    assert event.status == "awaiting_clarification"
    assert event.clarification == Clarification("Which city?", "clr_1", "weather please")
    assert event.timestamp == 1795945191
    assert event.occurred_at is not None and event.occurred_at.microsecond == 750300
    assert event.user_id == "u1"
    assert event.content == []


@pytest.mark.parametrize(
    ("extra", "state"),
    [({"result": "All done."}, "achieved"), ({"report": {"reason": "no tool", "tries": [1, 2]}}, "stuck")],
)
def test_retry_escalation_shape(extra: dict[str, Any], state: str) -> None:
    payload = {"request_id": "req_E", "state": state, "attempts": 3, "timestamp": 1795945191.25, **extra}
    event = webhook.parse(json.dumps(payload))
    assert event.kind == "escalation"
    assert event.state == state and event.status == state
    assert event.attempts == 3
    assert event.request_id == "req_E"
    assert event.timestamp == 1795945191
    assert event.result == extra.get("result")
    assert event.report == extra.get("report")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1795945191337, 1795945191),  # milliseconds (completions)
        (1795945191, 1795945191),  # seconds
        (1795945191.999, 1795945191),  # float seconds (clarifications, escalations)
        (1795945191337.5, 1795945191),  # float milliseconds
        ("1795945191", 1795945191),
        ("2026-11-29T09:39:51.337Z", 1795945191),
        ("2026-11-29T10:39:51+01:00", 1795945191),
        ("2026-11-29T09:39:51", 1795945191),  # naive: taken as UTC
        (0, 0),
        (None, 0),
        (True, 0),
        ("yesterday", 0),
        ([1795945191], 0),
        (10**400, 0),
    ],
)
def test_timestamps_in_one_unit(value: Any, seconds: int) -> None:
    event = webhook.parse({"id": "r", "status": "completed", "timestamp": value})
    assert event.timestamp == seconds
    assert event.timestamp_raw == value


def test_absent_timestamp() -> None:
    event = webhook.parse(b'{"id": "r"}')
    assert (event.timestamp, event.timestamp_raw, event.occurred_at) == (0, None, None)
    assert event.status == "unknown"


def test_non_finite_timestamps_are_unreadable() -> None:
    for body in (b'{"timestamp": NaN}', b'{"timestamp": Infinity}', b'{"timestamp": 1e999}'):
        event = webhook.parse(body)
        assert event.timestamp == 0 and event.occurred_at is None


def test_odd_content_items_are_kept_not_dropped() -> None:
    payload = {
        "status": "completed",
        "response": [
            {"type": "file", "file": {"name": "a.png", "url": "http://127.0.0.1/a.png"}},
            "bare text",
            42,
            {"type": "text", "text": 5},
            {"text": "no type"},
        ],
    }
    content = webhook.parse(payload).content
    assert content[0] == ContentItem(type="file", file={"name": "a.png", "url": "http://127.0.0.1/a.png"},
                                     raw=payload["response"][0])
    assert (content[1].type, content[1].text) == ("text", "bare text")
    assert (content[2].type, content[2].raw) == ("unknown", 42)
    assert (content[3].type, content[3].text, content[3].raw) == ("text", None, {"type": "text", "text": 5})
    assert (content[4].type, content[4].text) == ("text", "no type")
    single = webhook.parse({"response": {"type": "text", "text": "one"}}).content
    assert [item.text for item in single] == ["one"]


def test_error_as_a_bare_string_and_with_missing_fields() -> None:
    assert webhook.parse({"status": "failed", "error": "boom"}).error == ErrorDetails("unknown", "boom")
    assert webhook.parse({"status": "failed", "error": {}}).error is None  # empty: nothing to report
    coded = webhook.parse({"status": "failed", "error": {"code": 7}})
    assert coded.error == ErrorDetails("7", "Unknown error")


def test_seed_user_guide_flow(capsys: pytest.CaptureFixture[str]) -> None:
    bodies = [
        RAW,
        json.dumps({"id": "r2", "status": "failed", "error": {"code": "x", "message": "it broke"}}).encode(),
        json.dumps({"request_id": "r3", "status": "awaiting_clarification",
                    "clarification_question": "Which one?"}).encode(),
    ]
    for payload in bodies:
        event = webhook.parse(payload)
        if event.status == "completed":
            for item in event.content:
                if item.type == "text":
                    print(item.text)
        elif event.status == "failed":
            assert event.error is not None
            print(f"Error: {event.error.message}")
        elif event.status == "awaiting_clarification":
            assert event.clarification is not None
            print(f"Question: {event.clarification.question}")
    assert capsys.readouterr().out.splitlines() == [
        "Hello from the fake model.", "Error: it broke", "Question: Which one?"
    ]


def test_official_names_and_positional_fields_are_compatible() -> None:
    event = WebhookEvent("r", "completed", 1795945191, [ContentItem("text", "hi")])
    assert (event.request_id, event.status, event.timestamp, event.content[0].text) == (
        "r", "completed", 1795945191, "hi"
    )
    assert WebhookEvent.from_dict({"id": "r"}).request_id == "r"
    assert ErrorDetails.from_dict({"message": "m"}) == ErrorDetails("unknown", "m", None)
    assert Clarification.from_dict({"clarification_question": "q"}).question == "q"
    assert ContentItem.from_dict({"type": "text", "text": "t"}).text == "t"
    assert webhook.WebhookVerificationError is WebhookVerificationError


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe{}", b'{"a": "\xc3"}', b"not json", b"", b"[1, 2]", b"42", b'"text"', b"null",
     b"[" * 100_000, b'{"a": ' + b"1" * 5000 + b"}", "{oops", "[]"],
)
def test_bad_payloads_raise_a_typed_error(payload: bytes | str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        webhook.parse(payload)
    assert type(info.value) is WebhookVerificationError
    # Never a bare JSON/Unicode/Recursion error, not even as the visible cause.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize("payload", [5, None, [1], object()])
def test_unsupported_payload_types_raise_a_typed_error(payload: Any) -> None:
    with pytest.raises(WebhookVerificationError):
        webhook.parse(payload)


@settings(deadline=None, max_examples=400)
@given(body=st.binary(max_size=200) | st.text(max_size=200))
@example(body=b"\xef\xbb\xbf{}")
def test_parse_never_raises_anything_but_the_typed_error(body: bytes | str) -> None:
    try:
        event = webhook.parse(body)
    except WebhookVerificationError:
        return
    assert isinstance(event, WebhookEvent)


@settings(deadline=None, max_examples=400)
@given(payload=st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=5), json_values, max_size=10))
def test_any_json_object_parses_to_well_typed_fields(payload: dict[str, Any]) -> None:
    event = webhook.parse(json.dumps(payload).encode())
    assert isinstance(event.request_id, str) and isinstance(event.status, str)
    assert isinstance(event.timestamp, int) and not isinstance(event.timestamp, bool)
    assert all(isinstance(item, ContentItem) and isinstance(item.type, str) for item in event.content)
    assert event.error is None or isinstance(event.error.message, str)
    assert event.clarification is None or isinstance(event.clarification.question, str)
    assert event.processing_time is None or isinstance(event.processing_time, float)
    assert isinstance(event.processing_mode, str)
    assert event.kind in {"response", "clarification", "escalation"}
    assert event.occurred_at is None or event.occurred_at.tzinfo is timezone.utc
    assert event.raw == json.loads(json.dumps(payload))
