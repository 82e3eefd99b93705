"""Only a qualified identity carries its INS into a document: the report PDF, the CDA, the
IHE_XDM package and its X-MSS-INS header, and the FHIR export, all built from the patient's
record as the hub stores it."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pypdfium2 as pdfium
import pytest

from hub.insi.adapter import OID_INS_NIR
from hub.records.patients import IdentityStatus, Patient, Sex
from hub.reports.cda import build_tlm_cr
from hub.reports.fhir_export import consultation_bundle
from hub.reports.gather import patient_facts
from hub.reports.mssante import HEADER_INS, mssante_headers
from hub.reports.pdf import render_report_pdf
from hub.reports.xdm import build_xdm_zip
from tests.support.reports import sample_facts

NIR = "249055244800197"


def _record(status: IdentityStatus) -> Patient:
    return Patient(
        id=42,
        organisation_id=1,
        birth_name="GARNIER",
        birth_name_key="GARNIER",
        first_names="Odette Marie",
        used_name="",
        birth_date=dt.date(1949, 5, 17),
        sex=Sex.FEMALE,
        birth_place_code="52448",
        nir=NIR,
        # INSi's OID: what a record "récupérée" or "qualifiée" through INSi carries.
        ins_oid=OID_INS_NIR
        if status in (IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED)
        else "",
        identity_status=status,
        phone="",
        email="",
    )


def _pdf_text(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return " ".join(
            re.sub(r"\s+", " ", doc[i].get_textpage().get_text_range()) for i in range(len(doc))
        )
    finally:
        doc.close()


def _documents(status: IdentityStatus) -> dict[str, bytes]:
    facts = sample_facts(patient=patient_facts(_record(status)))
    pdf = render_report_pdf(facts)
    cda = build_tlm_cr(facts, pdf)
    package = build_xdm_zip(
        facts, cda, sender="cpts@mssante.invalid", recipient="mt@mssante.invalid"
    )
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        unpacked = b"".join(archive.read(name) for name in archive.namelist())
    bundle = consultation_bundle(
        facts, cda=cda, pdf=pdf, accesses=[], base_url="https://hub.cpts.invalid"
    )
    return {
        "pdf": _pdf_text(pdf).encode(),
        "cda": cda,
        "xdm": unpacked,
        "fhir": json.dumps(bundle).encode(),
        HEADER_INS: mssante_headers(facts)[HEADER_INS].encode(),
    }


@pytest.mark.parametrize(
    "status", [IdentityStatus.PROVISIONAL, IdentityStatus.RETRIEVED, IdentityStatus.VALIDATED]
)
def test_an_identity_that_is_not_qualified_carries_no_ins(status: IdentityStatus) -> None:
    documents = _documents(status)
    for name in ("pdf", "cda", "xdm", "fhir"):
        assert NIR.encode() not in documents[name], name
    assert documents[HEADER_INS] == b"N"


def test_a_qualified_identity_carries_its_ins_everywhere() -> None:
    documents = _documents(IdentityStatus.QUALIFIED)
    for name in ("pdf", "cda", "xdm", "fhir"):
        assert NIR.encode() in documents[name], name
    assert documents[HEADER_INS] == b"O"


def test_a_number_insi_never_returned_is_not_an_ins_even_under_a_qualified_status() -> None:
    record = _record(IdentityStatus.QUALIFIED)
    record.ins_oid = ""  # typed or read from a card: INSi never returned it
    facts = patient_facts(record)
    assert (facts.ins, facts.ins_oid) == (None, None)
