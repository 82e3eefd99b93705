"""A loopback INSi teleservice for the tests: a real HTTP server answering SOAP 1.1 in the
shapes of the ANS INSi guide (CR 00 with the identity, 01 none, 02 several; a SOAP fault or an
unknown CR for an error), for the identities the test registers. Started per test."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from hub.insi.adapter import InsIdentity

NS = "urn:cpts-teleconsultation:insi"
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)
# Birth names the server answers with something else than an identity.
SEVERAL = "HOMONYME"  # CR 02: several identities match
FAULT = "PANNE"  # a SOAP fault (the teleservice failed)
BAD_REQUEST = "REFUS"  # a CR outside 00/01/02 (the guide's request errors)


@dataclass
class LoopbackInsi:
    """The identities INSi knows (by birth name, upper case), and the requests it received."""

    url: str = ""
    known: dict[str, InsIdentity] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)

    def add(self, identity: InsIdentity) -> None:
        self.known[identity.traits.birth_name] = identity

    def answer(self, body: bytes) -> tuple[int, str]:
        root = etree.fromstring(body)
        request = root.find(".//{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
        fields = {etree.QName(e).localname: (e.text or "") for e in request.iter() if len(e) == 0}
        fields["operation"] = etree.QName(request).localname
        self.requests.append(fields)
        name = fields.get("NomNaissance", "").upper()
        if name == FAULT:
            return 500, ENVELOPE.format(
                "<soap:Fault><faultcode>soap:Server</faultcode>"
                "<faultstring>Service INSi momentanément indisponible</faultstring>"
                "</soap:Fault>"
            )
        if name == BAD_REQUEST:
            return 200, self._reply(fields["operation"], "99", "Requête non conforme")
        if fields["operation"] == "VerificationIns":
            identity = self.known.get(name)
            ins = fields.get("NumIdentifiant", "") + fields.get("Cle", "")
            valid = (
                identity is not None
                and identity.ins == ins
                and identity.oid == fields.get("OID")
                and identity.traits.birth_date.isoformat() == fields.get("DateNaissance")
                and identity.traits.sex == fields.get("Sexe")
            )
            return 200, self._reply("VerificationIns", "00" if valid else "01", "")
        if name == SEVERAL:
            return 200, self._reply("RechercheInsAvecTraitsIdentite", "02", "Plusieurs identités")
        identity = self.known.get(name)
        if identity is None or identity.traits.birth_date.isoformat() != fields.get(
            "DateNaissance"
        ):
            return 200, self._reply("RechercheInsAvecTraitsIdentite", "01", "Aucune identité")
        return 200, self._reply("RechercheInsAvecTraitsIdentite", "00", "OK", identity)

    @staticmethod
    def _reply(operation: str, code: str, label: str, identity: InsIdentity | None = None) -> str:
        parts = [f'<i:{operation}Reponse xmlns:i="{NS}">']
        parts.append(
            f"<i:CR><i:CodeCR>{code}</i:CodeCR><i:LibelleCR>{escape(label)}</i:LibelleCR></i:CR>"
        )
        if identity is not None:
            t = identity.traits
            parts.append(
                "<i:INDIVIDU><i:INSACTIF><i:IdIndividu>"
                f"<i:NumIdentifiant>{identity.ins[:13]}</i:NumIdentifiant>"
                f"<i:Cle>{identity.ins[13:]}</i:Cle></i:IdIndividu>"
                f"<i:OID>{identity.oid}</i:OID></i:INSACTIF><i:TIQ>"
                f"<i:NomNaissance>{escape(t.birth_name)}</i:NomNaissance>"
                f"<i:Prenom>{escape(t.first_names.split()[0])}</i:Prenom>"
                f"<i:ListePrenom>{escape(t.first_names)}</i:ListePrenom>"
                f"<i:Sexe>{t.sex}</i:Sexe>"
                f"<i:DateNaissance>{t.birth_date.isoformat()}</i:DateNaissance>"
                f"<i:LieuNaissance>{t.birth_place_code}</i:LieuNaissance>"
                "</i:TIQ></i:INDIVIDU>"
            )
        parts.append(f"</i:{operation}Reponse>")
        return ENVELOPE.format("".join(parts))


def _serve(service: LoopbackInsi, tls: ssl.SSLContext | None = None) -> Iterator[None]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, reply = service.answer(body)
            data = reply.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    service.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/insi"
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def insi() -> Iterator[LoopbackInsi]:
    """A loopback INSi over plain HTTP, running for the test."""
    service = LoopbackInsi()
    yield from _serve_yielding(service)


def _serve_yielding(
    service: LoopbackInsi, tls: ssl.SSLContext | None = None
) -> Iterator[LoopbackInsi]:
    for _ in _serve(service, tls):
        yield service


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl), as PEM files."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class TlsInsi:
    """A loopback INSi over mutual TLS: its server certificate (the CA to trust) and the one
    certificate and key it accepts from a client (the structure's)."""

    service: LoopbackInsi
    server_cert: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
def insi_tls(tmp_path: Path) -> Iterator[TlsInsi]:
    """A loopback INSi that accepts only the structure's certificate (mutual TLS)."""
    server_cert, server_key = _self_signed(tmp_path, "insi")
    client_cert, client_key = _self_signed(tmp_path, "cpts")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(server_cert, server_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(client_cert)
    service = LoopbackInsi()
    for _ in _serve(service, tls):
        yield TlsInsi(service, server_cert, client_cert, client_key)
