"""French mobile numbers, and the JSON webhook SMS gateway against a real HTTP server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.notify.errors import DeliveryError
from hub.notify.sms import HttpSmsGateway, SmsGateway, normalise_french_mobile
from tests.hub.notify.conftest import SMS_TOKEN, SmsWebhook
from tests.support.postgres import free_port


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0712345678", "+33712345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("06-12-34-56-78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33612345678", "+33612345678"),
        ("+33 (0)7 12 34 56 78", "+33712345678"),
        ("0033 6 12 34 56 78", "+33612345678"),
        (" 06 12 34 56 78 ", "+33612345678"),
    ],
)
def test_french_mobiles_are_normalised(phone: str, e164: str) -> None:
    assert normalise_french_mobile(phone) == e164


@pytest.mark.parametrize(
    "phone",
    [
        "01 23 45 67 89",  # landline
        "09 70 12 34 56",  # VoIP
        "+33 1 23 45 67 89",
        "06 12 34 56 7",
        "06 12 34 56 789",
        "+44 7700 900123",
        "+330612345678",
        "06 12 34 56 7a",
        "",
    ],
)
def test_other_numbers_are_refused_in_french(phone: str) -> None:
    with pytest.raises(ValueError) as error:
        normalise_french_mobile(phone)
    assert str(error.value) == f"Numéro de portable invalide : {phone.strip()}"


def gateway(webhook: SmsWebhook, token: str = SMS_TOKEN) -> SmsGateway:
    return HttpSmsGateway(url=webhook.url, token=token, sender="CPTS")


async def test_sms_is_posted_with_bearer_token(sms_webhook: SmsWebhook) -> None:
    provider_id = await gateway(sms_webhook).send(
        to="+33612345678", text="Rappel : téléconsultation demain à 8 h 30."
    )
    assert provider_id == "sms-1"
    assert sms_webhook.received == [
        (
            f"Bearer {SMS_TOKEN}",
            {
                "to": "+33612345678",
                "text": "Rappel : téléconsultation demain à 8 h 30.",
                "sender": "CPTS",
            },
        ),
    ]


async def test_numeric_provider_id_is_kept_as_text(sms_webhook: SmsWebhook) -> None:
    sms_webhook.answers.append((201, '{"id": 98765, "parts": 1}'))
    assert await gateway(sms_webhook).send(to="+33612345678", text="x") == "98765"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, '{"error": "quota"}', 'SMS gateway answered 500: {"error": "quota"}'),
        (503, "", "SMS gateway answered 503: (empty body)"),
        (200, "OK", "SMS gateway answered 200 without JSON: OK"),
        (200, '{"status": "ok"}', 'SMS gateway answered 200 without an id: {"status": "ok"}'),
        (200, '{"id": null}', 'SMS gateway answered 200 without an id: {"id": null}'),
    ],
)
async def test_unexpected_answers_are_delivery_errors(
    sms_webhook: SmsWebhook, status: int, body: str, message: str
) -> None:
    sms_webhook.answers.append((status, body))
    with pytest.raises(DeliveryError) as error:
        await gateway(sms_webhook).send(to="+33612345678", text="x")
    assert error.value.message == message


async def test_long_error_bodies_are_cut(sms_webhook: SmsWebhook) -> None:
    sms_webhook.answers.append((502, "<html>" + "x" * 1000 + "</html>"))
    with pytest.raises(DeliveryError) as error:
        await gateway(sms_webhook).send(to="+33612345678", text="x")
    assert len(error.value.message) < 250
    assert error.value.message.endswith("…")


async def test_wrong_token_is_a_delivery_error(sms_webhook: SmsWebhook) -> None:
    with pytest.raises(DeliveryError, match="SMS gateway answered 401"):
        await gateway(sms_webhook, token="wrong").send(to="+33612345678", text="x")


async def test_unreachable_gateway_is_a_delivery_error() -> None:
    unreachable = HttpSmsGateway(
        url=f"http://127.0.0.1:{free_port()}/sms", token=SMS_TOKEN, sender="CPTS"
    )
    with pytest.raises(DeliveryError, match="unreachable: ConnectError"):
        await unreachable.send(to="+33612345678", text="x")


def test_token_is_not_in_repr() -> None:
    sms = HttpSmsGateway(url="https://sms.example/send", token="secret-token", sender="CPTS")
    assert "secret-token" not in repr(sms)


@given(st.text(alphabet="0123456789+() .-/a", max_size=25))
def test_any_input_gives_a_mobile_or_the_french_error(phone: str) -> None:
    try:
        e164 = normalise_french_mobile(phone)
    except ValueError as error:
        assert str(error).startswith("Numéro de portable invalide : ")
    else:
        assert len(e164) == 12
        assert e164[:4] in ("+336", "+337")
        assert e164[1:].isdigit()
