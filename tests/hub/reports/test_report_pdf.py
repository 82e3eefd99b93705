"""The report PDF as the médecin traitant reads it: text and pages as pdfium sees them."""

from __future__ import annotations

import datetime as dt
import io

import pikepdf
import pypdfium2 as pdfium
import pytest

from hub.reports.facts import OID_INS_NIA, MeasurementFacts, ReportFacts
from hub.reports.pdf import render_report_pdf
from tests.support.reports import START, pdf_pages, sample_facts, sample_patient


def pdf_text(facts: ReportFacts) -> str:
    return " ".join(pdf_pages(render_report_pdf(facts)))


def test_patient_identity_with_qualified_ins() -> None:
    text = pdf_text(sample_facts())
    assert "Nom de naissance : LEFÈVRE" in text
    assert "Nom utilisé : MARTIN" in text
    assert "Prénom(s) : Hélène Marie" in text
    assert "Sexe : Féminin" in text
    assert "Date de naissance : 14/03/1958" in text
    assert "Lieu de naissance (code INSEE) : 63113" in text
    assert "Identité qualifiée" in text
    assert "Matricule INS : 258036311301155 (NIR)" in text
    assert "Médecin traitant : Dr Paul BERNARD" in text


def test_no_ins_printed_without_qualified_identity() -> None:
    patient = sample_patient(identity_status="validee", ins=None, ins_oid=None, used_name="")
    text = pdf_text(sample_facts(patient=patient, medecin_traitant_name=""))
    assert "Identité validée" in text
    assert "Matricule INS" not in text
    assert "258036311301155" not in text
    assert "Nom utilisé" not in text
    assert "Aucun médecin traitant déclaré" in text


def test_nia_is_named_as_such() -> None:
    patient = sample_patient(ins_oid=OID_INS_NIA)
    assert "Matricule INS : 258036311301155 (NIA)" in pdf_text(sample_facts(patient=patient))


def test_header_and_teleconsultation_in_local_time() -> None:
    text = pdf_text(sample_facts())
    assert "CPTS du Val de Loire (démo) Maison de santé du Clos Mortier" in text
    assert "3 rue du Clos Mortier, 37100 Tours" in text
    assert "Compte rendu de téléconsultation" in text
    assert "Date : 20/11/2026" in text
    assert "Horaires : de 10h30 à 10h48" in text  # 09:30–09:48 UTC, Paris in winter
    assert "Dr Claire DURAND" in text and "(RPPS 10003456789)" in text
    assert "Julien ROBERT (RPPS 10009876543)" in text
    assert "remplace" not in text


def test_measurements_table_in_local_time_with_french_units() -> None:
    text = pdf_text(sample_facts())
    assert "Heure Mesure Valeur Appareil" in text
    assert "10:33 Température 38,4 °C Thermomètre BLE n° TH-0042" in text
    assert "10:34 Saturation en oxygène 95 % Contec CMS50D n° 0015" in text
    assert "10:36 Pression artérielle systolique 128 mmHg Tensiomètre BLE n° BP-7" in text


def test_measurement_times_follow_the_site_timezone() -> None:
    glucose = MeasurementFacts(
        at=START + dt.timedelta(minutes=10),
        kind="glucose",
        label="Glycémie capillaire",
        value=1.05,
        unit="g/L",
        loinc="2339-0",
        device="Lecteur n° G-1",
    )
    facts = sample_facts(timezone="America/Cayenne", measurements=(glucose,))
    text = pdf_text(facts)
    assert "06:40 Glycémie capillaire 1,05 g/L Lecteur n° G-1" in text  # UTC−3, unit as is
    assert "Horaires : de 06h30 à 06h48" in text
    assert "Température" not in text


def test_no_measurement() -> None:
    text = pdf_text(sample_facts(measurements=()))
    assert "Mesures Aucune mesure pendant la séance" in text
    assert "Appareil" not in text


def test_sections_orientation_acts_and_signature() -> None:
    text = pdf_text(sample_facts())
    assert "Motif Toux fébrile depuis trois jours" in text
    assert "Examen Auscultation : crépitants de la base droite." in text
    assert "Conclusion Suspicion de pneumopathie communautaire" in text
    assert (
        "Prescriptions Amoxicilline 1 g, 3 fois par jour pendant 7 jours. "
        "Paracétamol 1 g si fièvre." in text
    )
    assert "Orientation Retour vers le médecin traitant" in text
    assert "Acte médical : TCG — Téléconsultation du médecin généraliste" in text
    assert (
        "Acte infirmier : TLL — Accompagnement infirmier d'une téléconsultation dans un lieu dédié"
        in text
    )
    assert text.endswith(
        "Signé électroniquement par Dr Claire DURAND (RPPS 10003456789) le 20/11/2026 à 10h55"
    )


def test_prescription_lines_stay_lines() -> None:
    doc = pdfium.PdfDocument(render_report_pdf(sample_facts()))
    try:
        page = doc[0]
        textpage = page.get_textpage()
        lines = textpage.get_text_range().splitlines()
        textpage.close()
        page.close()
    finally:
        doc.close()
    assert "Amoxicilline 1 g, 3 fois par jour pendant 7 jours." in lines
    assert "Paracétamol 1 g si fièvre." in lines


def test_without_nurse() -> None:
    text = pdf_text(sample_facts(nurse=None, nurse_act=None))
    assert "ROBERT" not in text
    assert "Acte infirmier" not in text
    assert "TLL" not in text


def test_amended_version_says_what_it_replaces() -> None:
    facts = sample_facts(version=2, amendment_reason="Correction de la posologie")
    text = pdf_text(facts)
    assert "Version 2 — remplace la version précédente" in text
    assert "Motif de la modification : Correction de la posologie" in text


def test_long_examination_flows_onto_numbered_pages() -> None:
    words = [f"constat{i}" for i in range(700)]  # about 6 000 characters
    pages = pdf_pages(render_report_pdf(sample_facts(examination=" ".join(words))))
    total = len(pages)
    assert total > 1
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} / {total}" in page
    text = " ".join(pages)
    assert "constat0 " in text and "constat699" in text
    assert text.index("constat699") < text.index("Signé électroniquement")


@pytest.mark.parametrize(
    "hostile",
    [
        "<b>&œ€ «ok» </para> &amp; &nbsp; 💊",
        "x" * 5000,
        "ligne\r\nsuivante\x00\x07\tfin",
    ],
)
def test_hostile_user_text_is_printed_as_typed(hostile: str) -> None:
    text = pdf_text(sample_facts(reason=hostile, conclusion=hostile, prescriptions=hostile))
    if hostile.startswith("<b>"):
        assert text.count("<b>&œ€ «ok» </para> &amp; &nbsp;") == 3
    elif hostile.startswith("x"):
        # Wrapped over lines and pages (between running headers), never cut.
        blank = pdf_text(sample_facts(reason="", conclusion="", prescriptions=""))
        assert text.count("x") - blank.count("x") == 3 * 5000
    else:
        assert text.count("ligne suivante") == 3


def test_metadata_and_deterministic_output() -> None:
    pdf = render_report_pdf(sample_facts())
    assert pdf == render_report_pdf(sample_facts())
    assert pdf != render_report_pdf(sample_facts(conclusion="Autre conclusion"))
    doc = pdfium.PdfDocument(pdf)
    try:
        meta = doc.get_metadata_dict()
    finally:
        doc.close()
    assert meta["Title"] == "Compte rendu de téléconsultation"
    assert meta["Author"] == "Dr Claire DURAND"
    assert meta["Creator"] == "CPTS téléconsultation"
    assert "20/11/2026" in meta["Subject"]


def test_first_page_renders_ink_on_a4() -> None:
    doc = pdfium.PdfDocument(render_report_pdf(sample_facts()))
    try:
        page = doc[0]
        width, height = page.get_size()
        image = page.render(scale=1).to_pil().convert("L")
        page.close()
    finally:
        doc.close()
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    dark = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 2000


def test_pdf_is_pdf_a_1b_as_the_ci_sis_asks() -> None:
    """Read back with qpdf: PDF 1.4, every font embedded, the sRGB OutputIntent, and the
    XMP identifying PDF/A-1b and repeating the document information."""
    pdf = render_report_pdf(sample_facts(examination="Auscultation : RAS. " * 400))
    assert pdf.startswith(b"%PDF-1.4")
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert doc.trailer.ID[0] and not doc.is_encrypted
        fonts = {
            str(font.BaseFont): font for page in doc.pages for font in page.Resources.Font.values()
        }
        assert fonts, "the report prints text"
        for name, font in fonts.items():
            descriptor = font.get("/FontDescriptor")
            assert descriptor is not None and (
                "/FontFile2" in descriptor or "/FontFile" in descriptor
            ), f"{name} is not embedded"
        [intent] = doc.Root.OutputIntents
        assert intent.S == pikepdf.Name.GTS_PDFA1
        profile = intent.DestOutputProfile.read_bytes()
        assert profile[36:40] == b"acsp" and profile[16:20] == b"RGB "
        meta = doc.open_metadata()
        assert (meta["pdfaid:part"], meta["pdfaid:conformance"]) == ("1", "B")
        assert meta["dc:title"] == "Compte rendu de téléconsultation"
        assert meta["dc:creator"] == ["Dr Claire DURAND"]
        assert meta["xmp:CreatorTool"] == "CPTS téléconsultation"
        # Dated by its signature (10:55 Paris = 09:55 UTC), the same in the XMP.
        assert str(doc.docinfo["/CreationDate"]) == "D:20261120095500+00'00'"
        assert meta["xmp:CreateDate"].startswith("2026-11-20T09:55:00")
        assert "/ObjStm" not in {
            str(o.get("/Type")) for o in doc.objects if isinstance(o, pikepdf.Stream)
        }
        for obj in doc.objects:  # PDF/A-1 forbids transparency groups and soft masks
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                assert obj.get("/S") != pikepdf.Name.Transparency
                assert obj.get("/SMask", pikepdf.Name.None_) == pikepdf.Name.None_
