"""The TLM-CR CDA document: checked by the official ANS test kit, and read back."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Callable, Iterator

import pytest
from lxml import etree
from reportlab.pdfgen import canvas

from hub.reports.cda import build_tlm_cr
from hub.reports.facts import OID_INS_NIR, OID_RPPS, ReportFacts
from tests.support.cda import VALIDATOR, CdaVerdict, validate_cda
from tests.support.reports import sample_facts, sample_patient

NS = {"h": "urn:hl7-org:v3"}
ANS_EXAMPLE = VALIDATOR.parent / "ans-cda" / "ExemplesCDA" / "TLM-CR_2022.01.xml"
# INS-NIR, INS-NIA and their test and demo variants.
INS_ROOTS = {OID_INS_NIR, "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
PREVIOUS_OID = "2.25.329800735698586629295641978511506172918"


def one_page_pdf() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=True)
    page.drawString(72, 720, "Compte rendu de téléconsultation")
    page.showPage()
    page.save()
    return buffer.getvalue()


PDF = one_page_pdf()


def amendment() -> ReportFacts:
    return sample_facts(
        version=2,
        document_oid="2.25.118093125384279187345366093419826736101",
        replaces_oid=PREVIOUS_OID,
        amendment_reason="Posologie corrigée",
    )


def without_ins() -> ReportFacts:
    patient = sample_patient(ins=None, ins_oid=None, identity_status="provisoire")
    return sample_facts(patient=patient)


def sparse() -> ReportFacts:
    """What a young installation may know: no SIRET, no nurse RPPS, no médecin traitant."""
    facts = sample_facts(medecin_traitant_name="", medecin_traitant_mssante="")
    assert facts.nurse is not None
    return dataclasses.replace(
        facts,
        place=dataclasses.replace(facts.place, organisation_siret="", organisation_phone=""),
        nurse=dataclasses.replace(facts.nurse, rpps=""),
    )


GP_RPPS = "10001234565"


def gp_with_rpps() -> ReportFacts:
    """A médecin traitant entered in structured fields, the free text saying otherwise."""
    return sample_facts(
        medecin_traitant_name="Bernard Paul, cabinet des Lilas",
        medecin_traitant_rpps=GP_RPPS,
        medecin_traitant_family_name="BERNARD",
        medecin_traitant_given_name="Paul",
    )


def with_code(xml: bytes, xpath: str, code: str) -> bytes:
    root = etree.fromstring(xml)
    (element,) = root.xpath(xpath, namespaces=NS)
    element.set("code", code)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "ans_example": ANS_EXAMPLE.read_bytes,
    "sample": lambda: build_tlm_cr(sample_facts(), PDF),
    "without_ins": lambda: build_tlm_cr(without_ins(), PDF),
    "amendment": lambda: build_tlm_cr(amendment(), PDF),
    "without_nurse": lambda: build_tlm_cr(sample_facts(nurse_act=None, nurse=None), PDF),
    "sparse": lambda: build_tlm_cr(sparse(), PDF),
    "gp_named_in_title_case": lambda: build_tlm_cr(
        sample_facts(medecin_traitant_name="Dr Henri Lacombe (remplaçant)"), PDF
    ),
    "gp_with_rpps": lambda: build_tlm_cr(gp_with_rpps(), PDF),
    # Another LOINC of the CI-SIS type codes: only the TLM-CR volet forbids it.
    "wrong_document_code": lambda: with_code(
        build_tlm_cr(sample_facts(), PDF), "/h:ClinicalDocument/h:code", "11488-4"
    ),
    "wrong_act": lambda: with_code(
        build_tlm_cr(sample_facts(), PDF),
        "/h:ClinicalDocument/h:documentationOf[1]/h:serviceEvent/h:code",
        "C",
    ),
}


@pytest.fixture(scope="module")
def verdicts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, CdaVerdict]]:
    """Every document of this module, validated in one run of the ANS kit."""
    cache: pytest.Cache | None = getattr(request.config, "cache", None)  # -p no:cacheprovider
    cache_dir = cache.mkdir("cda-validator") if cache is not None else tmp_path_factory.mktemp("c")
    workdir = tmp_path_factory.mktemp("cda")
    documents = {name: build() for name, build in DOCUMENTS.items()}
    yield validate_cda(documents, workdir=workdir, cache_dir=cache_dir)


@pytest.mark.parametrize(
    "name",
    [
        "ans_example",
        "sample",
        "without_ins",
        "amendment",
        "without_nurse",
        "sparse",
        "gp_with_rpps",
    ],
)
def test_document_passes_the_ans_kit(verdicts: dict[str, CdaVerdict], name: str) -> None:
    verdict = verdicts[name]
    assert verdict.passed, verdict.output
    assert not verdict.messages, verdict.output  # not even a warning


def test_another_document_code_fails_the_tlm_cr_rule(verdicts: dict[str, CdaVerdict]) -> None:
    verdict = verdicts["wrong_document_code"]
    assert verdict.failed_checks() == ["TLM-CR"], verdict.output
    assert any(
        "[Entete_TLM-CR] Le code du document TLM-CR doit être égal à '85208-7'" in m
        for m in verdict.messages
    ), verdict.output


def test_an_act_outside_telemedicine_fails_the_tlm_cr_rule(
    verdicts: dict[str, CdaVerdict],
) -> None:
    verdict = verdicts["wrong_act"]
    assert verdict.failed_checks() == ["TLM-CR"], verdict.output
    assert any(
        "[Entete_TLM-CR] Le code de l'acte documenté est obligatoire" in m for m in verdict.messages
    ), verdict.output


def parse(facts: ReportFacts) -> etree._Element:
    return etree.fromstring(build_tlm_cr(facts, PDF))


def test_the_pdf_comes_back_byte_for_byte() -> None:
    (text,) = parse(sample_facts()).xpath(
        "/h:ClinicalDocument/h:component/h:nonXMLBody/h:text", namespaces=NS
    )
    assert (text.get("mediaType"), text.get("representation")) == ("application/pdf", "B64")
    assert base64.b64decode(text.text, validate=True) == PDF


def test_the_patient_is_identified_by_the_ins_and_the_local_id() -> None:
    ids = parse(sample_facts()).xpath("//h:recordTarget/h:patientRole/h:id", namespaces=NS)
    assert (ids[0].get("root"), ids[0].get("extension")) == (OID_INS_NIR, "258036311301155")
    assert ids[1].get("extension") == "42"
    assert ids[1].get("root") not in INS_ROOTS


def test_an_unqualified_identity_carries_no_ins() -> None:
    xml = build_tlm_cr(without_ins(), PDF)
    roots = etree.fromstring(xml).xpath("//h:id/@root", namespaces=NS)
    assert not INS_ROOTS & set(roots)
    assert b"258036311301155" not in xml


def test_the_author_is_the_doctor_by_rpps() -> None:
    (author_id,) = parse(sample_facts()).xpath("//h:author/h:assignedAuthor/h:id", namespaces=NS)
    assert (author_id.get("root"), author_id.get("extension")) == (OID_RPPS, "810003456789")


def test_an_amendment_replaces_the_previous_version_in_the_same_set() -> None:
    first, second = parse(sample_facts()), parse(amendment())

    def one(root: etree._Element, xpath: str) -> str:
        (value,) = root.xpath(xpath, namespaces=NS)
        return str(value)

    assert one(second, "/h:ClinicalDocument/h:versionNumber/@value") == "2"
    assert one(second, "/h:ClinicalDocument/h:setId/@root") == one(
        first, "/h:ClinicalDocument/h:setId/@root"
    )
    assert one(second, "/h:ClinicalDocument/h:id/@root") != one(
        first, "/h:ClinicalDocument/h:id/@root"
    )
    related = "/h:ClinicalDocument/h:relatedDocument[@typeCode='RPLC']/h:parentDocument"
    assert one(second, f"{related}/h:id/@root") == PREVIOUS_OID
    assert one(second, f"{related}/h:versionNumber/@value") == "1"
    assert not first.xpath("//h:relatedDocument", namespaces=NS)


def test_acts_of_the_doctor_and_of_the_nurse() -> None:
    def acts(facts: ReportFacts) -> list[tuple[str, str]]:
        events = parse(facts).xpath("//h:documentationOf/h:serviceEvent", namespaces=NS)
        return [
            (
                event.xpath("string(h:code/@code)", namespaces=NS),
                event.xpath("string(h:performer/h:assignedEntity/h:id/@extension)", namespaces=NS),
            )
            for event in events
        ]

    assert acts(sample_facts()) == [("TCG", "810003456789"), ("TLL", "810009876543")]
    assert acts(sample_facts(nurse_act=None, nurse=None)) == [("TCG", "810003456789")]


def test_the_nurse_is_a_performer_of_the_teleconsultation_by_rpps() -> None:
    root = parse(sample_facts())
    (nurse,) = root.xpath("/h:ClinicalDocument/h:participant[@typeCode='PRF']", namespaces=NS)
    entity = nurse.find("h:associatedEntity", NS)
    assert entity.get("classCode") == "PROV"
    assert entity.find("h:id", NS).get("extension") == "810009876543"
    assert entity.find("h:code", NS).get("code") == "G15_60"
    assert nurse.xpath("string(.//h:associatedPerson/h:name/h:family)", namespaces=NS) == "ROBERT"
    assert not parse(sample_facts(nurse_act=None, nurse=None)).xpath(
        "//h:participant[@typeCode='PRF']", namespaces=NS
    )


@pytest.mark.parametrize(
    ("written", "given", "family"),
    [
        ("Dr Paul BERNARD", "Paul", "BERNARD"),
        ("Dr Henri Lacombe (remplaçant)", "Henri", "Lacombe"),
        ("Docteur Anne-Marie DE LA TOUR", "Anne-Marie", "DE LA TOUR"),
    ],
)
def test_the_gp_is_the_intended_recipient_with_a_name_in_parts(
    written: str, given: str, family: str
) -> None:
    root = parse(sample_facts(medecin_traitant_name=written))
    (recipient,) = root.xpath(
        "/h:ClinicalDocument/h:informationRecipient[@typeCode='PRCP']/h:intendedRecipient",
        namespaces=NS,
    )
    assert recipient.find("h:telecom", NS).get("value") == "mailto:paul.bernard@medecin.mssante.fr"
    name = recipient.find("h:informationRecipient/h:name", NS)
    assert (name.findtext("h:given", namespaces=NS), name.findtext("h:family", namespaces=NS)) == (
        given,
        family,
    )
    assert name.findtext("h:suffix", namespaces=NS) == "DR"
    assert not parse(sample_facts(medecin_traitant_name="")).xpath(
        "//h:informationRecipient", namespaces=NS
    )


def test_the_gp_is_identified_by_rpps_with_the_structured_names() -> None:
    """The recipient and the médecin traitant participant carry the IDNPS ("8" + RPPS) and
    the names typed in their own fields, not the free text split."""
    root = parse(gp_with_rpps())
    for entity in (
        "/h:ClinicalDocument/h:informationRecipient[@typeCode='PRCP']/h:intendedRecipient",
        "/h:ClinicalDocument/h:participant[@typeCode='INF']/h:associatedEntity",
    ):
        (found,) = root.xpath(entity, namespaces=NS)
        ident = found.find("h:id", NS)
        assert (ident.get("root"), ident.get("extension")) == (OID_RPPS, "8" + GP_RPPS)
        name = found.find("*/h:name", NS)
        assert (
            name.findtext("h:given", namespaces=NS),
            name.findtext("h:family", namespaces=NS),
        ) == (
            "Paul",
            "BERNARD",
        )
    # An older row without RPPS: no id at all, the free text split as before.
    (recipient,) = parse(sample_facts()).xpath("//h:intendedRecipient", namespaces=NS)
    assert recipient.find("h:id", NS) is None


def test_ins_traits_are_written_as_insi_returns_them() -> None:
    """Upper case without diacritics for the INS traits; an unqualified identity keeps the
    names as typed."""

    def names(facts: ReportFacts) -> list[str]:
        return parse(facts).xpath("//h:recordTarget//h:patient/h:name/*/text()", namespaces=NS)

    assert names(sample_facts())[:3] == ["LEFEVRE", "HELENE MARIE", "HELENE"]
    assert names(without_ins())[:3] == ["LEFÈVRE", "Hélène Marie", "Hélène"]


def test_the_same_facts_give_the_same_bytes() -> None:
    assert build_tlm_cr(sample_facts(), PDF) == build_tlm_cr(sample_facts(), PDF)


def test_a_qualified_identity_without_birth_place_is_refused() -> None:
    """The INS travels only with its traits; the birth place code (COG) is one of them."""
    with pytest.raises(ValueError, match="birth place"):
        build_tlm_cr(sample_facts(patient=sample_patient(birth_place_code="")), PDF)
