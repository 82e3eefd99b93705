"""The INSi client: the guide's SOAP operations through ``zeep`` against ``insi.wsdl``, with
the structure's certificate for mutual TLS. zeep is synchronous: each call runs in a thread."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import requests
from zeep import Client
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault
from zeep.transports import Transport

from hub.config import Settings
from hub.insi.adapter import (
    INS_OIDS,
    Answer,
    InsIdentity,
    InsiError,
    InsiService,
    SearchResult,
    Traits,
)

WSDL = Path(__file__).with_name("insi.wsdl")
BINDING = "{urn:cpts-teleconsultation:insi}INSiBinding"
TIMEOUT = 15.0  # seconds: a nurse waits for it, with the patient in front of her


def _first(first_names: str) -> str:
    return (first_names.split() or [""])[0]


def _answer(cr: Any) -> Answer:
    try:
        return Answer(str(cr.CodeCR))
    except ValueError:
        raise InsiError(str(cr.CodeCR), str(cr.LibelleCR or "")) from None


def _identity(individu: Any) -> InsIdentity:
    active, tiq = individu.INSACTIF, individu.TIQ
    oid = str(active.OID)
    if oid not in INS_OIDS:
        raise InsiError("OID", f"autorité d'affectation inconnue {oid}")
    return InsIdentity(
        ins=f"{active.IdIndividu.NumIdentifiant}{active.IdIndividu.Cle}",
        oid=oid,
        traits=Traits(
            birth_name=str(tiq.NomNaissance),
            first_names=str(tiq.ListePrenom or tiq.Prenom),
            birth_date=tiq.DateNaissance,
            sex=str(tiq.Sexe),
            birth_place_code=str(tiq.LieuNaissance or ""),
        ),
    )


class SoapInsi:
    """``InsiService`` over SOAP. ``cert``/``key``: the PEM certificate and private key of the
    structure (a software certificate of the IGC-Santé, "certificat serveur applicatif");
    ``ca``: the PEM bundle INSi's server certificate is checked against."""

    def __init__(
        self, url: str, *, cert: str = "", key: str = "", ca: str = "", wsdl: Path = WSDL
    ) -> None:
        http = requests.Session()
        if cert:
            http.cert = (cert, key) if key else cert
        if ca:  # INSi's server certificate is under the IGC-Santé, not a public authority
            http.verify = ca
            # requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override ``verify``: the
            # configured chain wins (and the environment's proxies are not used for INSi).
            http.trust_env = False
        transport = Transport(  # type: ignore[no-untyped-call]
            session=http, timeout=TIMEOUT, operation_timeout=TIMEOUT
        )
        self._client = Client(str(wsdl), transport=transport)  # type: ignore[no-untyped-call]
        self._service = self._client.create_service(BINDING, url)  # type: ignore[no-untyped-call]

    def _call(self, operation: str, **fields: Any) -> Any:
        try:
            return getattr(self._service, operation)(**fields)
        except Fault as fault:
            raise InsiError(str(fault.code or ""), str(fault.message or "")) from fault
        except (requests.RequestException, ZeepError, OSError) as exc:
            raise InsiError("", str(exc)) from exc

    def _search(self, traits: Traits) -> SearchResult:
        reply = self._call(
            "rechercherInsAvecTraitsIdentite",
            NomNaissance=traits.birth_name,
            Prenom=_first(traits.first_names),
            Sexe=traits.sex,
            DateNaissance=traits.birth_date,
            LieuNaissance=traits.birth_place_code or None,
        )
        answer = _answer(reply.CR)
        individuals = list(reply.INDIVIDU or [])
        if answer is Answer.ONE:
            if len(individuals) != 1:
                raise InsiError("00", "réponse sans identité unique")
            return SearchResult(answer, _identity(individuals[0]))
        return SearchResult(answer)

    def _verify(self, identity: InsIdentity) -> bool:
        traits = identity.traits
        reply = self._call(
            "verifierIns",
            IdIndividu={"NumIdentifiant": identity.ins[:13], "Cle": identity.ins[13:]},
            OID=identity.oid,
            NomNaissance=traits.birth_name,
            Prenom=traits.first_names,
            Sexe=traits.sex,
            DateNaissance=traits.birth_date,
            LieuNaissance=traits.birth_place_code or None,
        )
        # zeep unwraps a response of a single element: the reply is the CR itself.
        answer = _answer(getattr(reply, "CR", reply))
        if answer is Answer.SEVERAL:
            raise InsiError("02", "réponse de recherche à une vérification")
        return answer is Answer.ONE

    async def search(self, traits: Traits) -> SearchResult:
        return await asyncio.to_thread(self._search, traits)

    async def verify(self, identity: InsIdentity) -> bool:
        return await asyncio.to_thread(self._verify, identity)


@functools.lru_cache(maxsize=4)
def _client(url: str, cert: str, key: str, ca: str) -> SoapInsi:
    return SoapInsi(url, cert=cert, key=key, ca=ca)


def client_for(settings: Settings) -> InsiService | None:
    """The configured INSi client, or None when HUB_INSI_URL is empty (INSi unavailable)."""
    if not settings.insi_url:
        return None
    return _client(settings.insi_url, settings.insi_cert, settings.insi_key, settings.insi_ca)
