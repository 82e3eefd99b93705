"""The INSi client against a loopback teleservice answering the guide's shapes: one identity
(the INS with its OID and the traits in upper case, as returned), none, several, an error."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.config import Settings
from hub.insi.adapter import OID_INS_NIR, Answer, InsIdentity, InsiError, Traits
from hub.insi.soap import SoapInsi, client_for
from tests.support.insi import BAD_REQUEST, FAULT, SEVERAL, LoopbackInsi, TlsInsi, insi, insi_tls

__all__ = ["insi", "insi_tls"]

LAMBERT = InsIdentity(
    ins="258066311300116",
    oid=OID_INS_NIR,
    traits=Traits("LAMBERT", "ODILE MARIE", dt.date(1958, 6, 2), "F", "63113"),
)


def _card(name: str = "Lambert") -> Traits:
    return Traits(name, "Odile", dt.date(1958, 6, 2), "F", "63113")


async def test_one_identity_comes_back_with_its_ins_oid_and_upper_case_traits(
    insi: LoopbackInsi,
) -> None:
    insi.add(LAMBERT)
    result = await SoapInsi(insi.url).search(_card())
    assert result.answer is Answer.ONE
    assert result.identity == LAMBERT
    sent = insi.requests[-1]
    assert sent["operation"] == "RechercheInsAvecTraitsIdentite"
    assert (sent["NomNaissance"], sent["Prenom"], sent["DateNaissance"]) == (
        "Lambert",
        "Odile",
        "1958-06-02",
    )


async def test_no_identity_and_several_identities_are_answers_without_an_identity(
    insi: LoopbackInsi,
) -> None:
    client = SoapInsi(insi.url)
    none = await client.search(_card("Inconnue"))
    several = await client.search(_card(SEVERAL))
    assert (none.answer, none.identity) == (Answer.NONE, None)
    assert (several.answer, several.identity) == (Answer.SEVERAL, None)


async def test_a_soap_fault_or_an_unknown_answer_code_is_an_error(insi: LoopbackInsi) -> None:
    client = SoapInsi(insi.url)
    with pytest.raises(InsiError) as fault:
        await client.search(_card(FAULT))
    assert "indisponible" in fault.value.message
    with pytest.raises(InsiError) as refused:
        await client.search(_card(BAD_REQUEST))
    assert refused.value.code == "99"


async def test_verification_says_whether_an_ins_and_its_traits_are_the_referential_s(
    insi: LoopbackInsi,
) -> None:
    insi.add(LAMBERT)
    client = SoapInsi(insi.url)
    assert await client.verify(LAMBERT)
    other = InsIdentity("258066311300213", OID_INS_NIR, LAMBERT.traits)
    assert not await client.verify(other)
    assert insi.requests[-1]["operation"] == "VerificationIns"


async def test_an_unreachable_insi_is_an_error_and_no_url_is_no_client() -> None:
    with pytest.raises(InsiError) as down:
        await SoapInsi("http://127.0.0.1:9/insi").search(_card())
    assert down.value.code == ""
    assert client_for(Settings(insi_url="")) is None


async def test_the_structure_s_certificate_opens_insi_and_nothing_else_does(
    insi_tls: TlsInsi,
) -> None:
    insi_tls.service.add(LAMBERT)
    with_cert = SoapInsi(
        insi_tls.service.url,
        cert=str(insi_tls.client_cert),
        key=str(insi_tls.client_key),
        ca=str(insi_tls.server_cert),
    )
    assert (await with_cert.search(_card())).identity == LAMBERT
    without = SoapInsi(insi_tls.service.url, ca=str(insi_tls.server_cert))
    with pytest.raises(InsiError):
        await without.search(_card())
    assert len(insi_tls.service.requests) == 1
