"""The indicators as figures, and what leaves the hub: CSV, JSON and the yearly activity report.

Privacy (statistical confidentiality). Only aggregates leave the hub, and every figure that
leaves it (CSV, JSON, the yearly report in HTML and PDF) masks small numbers: a count from 1 to
4 (below ``MASK_BELOW``) is written « < 5 »; a rate or a median computed from such a count (its
numerator or its denominator) is written « masqué » — not « < 5 », which would read as a value
below 5 % or 5 h — since the count could be worked back from it. Each masked value says why, in
French, next to it (``MASK_NOTES``). Zero is shown: it points at no one, and a funder reading
« < 5 » for an activity the CPTS did not have would be misled. The coordinator's dashboard shows
exact figures: she is the one accountable for these data inside the CPTS, needs exact numbers to
check them against her own records, and the page is not a document that circulates.
Masking does not prevent working a masked cell back by difference with a total (secondary
disclosure); reports meant for publication should round or group small sites.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.reporting.indicators import IndicatorReport, Indicators, months_fr
from hub.reporting.models import ReportInputs
from hub.reports.models import ORIENTATION_LABELS, Orientation

MASK_BELOW = 5
MASKED = "< 5"  # a count from 1 to 4
MASKED_DERIVED = "masqué"  # a rate, a median computed from such a count
MASK_EXPLANATION = (
    "Secret statistique : les effectifs de 1 à 4 sont écrits « < 5 », et les taux et délais "
    "calculés à partir de tels effectifs sont écrits « masqué », pour qu'aucun patient ne "
    "puisse être reconnu."
)


class Unit(StrEnum):
    COUNT = "nombre"
    PERCENT = "%"
    HOURS = "heures"


@dataclass(frozen=True, slots=True)
class Figure:
    """One indicator's value for one scope, with the counts it is computed from."""

    code: str
    label: str
    unit: Unit
    value: float | None  # None: nothing to compute it from
    basis: tuple[int, ...]  # counts behind the value; any from 1 to MASK_BELOW - 1 masks it

    @property
    def masked(self) -> bool:
        return any(0 < n < MASK_BELOW for n in self.basis)

    @property
    def masked_text(self) -> str:
        """What is written in place of the value when it is masked."""
        return MASKED if self.unit is Unit.COUNT else MASKED_DERIVED

    @property
    def mask_note(self) -> str:
        """Why the value is masked, in French; "" when it is not."""
        if not self.masked:
            return ""
        if self.unit is Unit.COUNT:
            return "Effectif de 1 à 4 : masqué pour qu'aucun patient ne puisse être reconnu."
        return (
            "Calculé à partir d'un effectif de 1 à 4 : masqué pour qu'aucun patient ne puisse "
            "être reconnu."
        )

    def text(self, *, mask: bool) -> str:
        """The value as a French reader writes it (« 87,5 % », « 18,2 h »), masked if asked."""
        if mask and self.masked:
            return self.masked_text
        number = self.number()
        if number == "":
            return "—"
        return {Unit.COUNT: number, Unit.PERCENT: f"{number} %", Unit.HOURS: f"{number} h"}[
            self.unit
        ]

    def number(self) -> str:
        """The bare number with a decimal comma (no unit, never masked); "" when none."""
        if self.value is None:
            return ""
        if self.unit is Unit.COUNT:
            return str(round(self.value))
        return f"{self.value:.1f}".replace(".", ",")

    def exported(self) -> str | float | int | None:
        """The value for a CSV cell or a JSON field: the masked text, or the number."""
        if self.masked:
            return self.masked_text
        if self.value is None or self.unit is not Unit.COUNT:
            return None if self.value is None else round(self.value, 1)
        return round(self.value)


def _count(code: str, label: str, n: int) -> Figure:
    return Figure(code, label, Unit.COUNT, n, (n,))


def _rate(code: str, label: str, value: float | None, part: int, whole: int) -> Figure:
    return Figure(code, label, Unit.PERCENT, value, (part, whole))


def figures(ind: Indicators) -> tuple[Figure, ...]:
    """Every indicator of a scope, in the order the dashboard and the CSV list them."""
    known = ind.patients_with_mt + ind.patients_without_mt
    out = [
        _count("consultations", "Téléconsultations réalisées", ind.consultations_done),
        _count("patients_seen", "Patients distincts vus", ind.patients_seen),
        _count(
            "patients_without_mt", "Patients sans médecin traitant vus", ind.patients_without_mt
        ),
        _count("patients_with_mt", "Patients ayant un médecin traitant", ind.patients_with_mt),
        _count(
            "patients_mt_unknown",
            "Patients dont la situation (médecin traitant) n'est pas connue",
            ind.patients_mt_unknown,
        ),
        _rate(
            "share_without_mt",
            "Part des patients sans médecin traitant (situation connue)",
            ind.share_without_mt,
            ind.patients_without_mt,
            known,
        ),
        _count("delay_measured", "Consultations au délai mesuré", ind.delay_measured),
        _rate(
            "share_within_24h",
            "Part des consultations dans les 24 h suivant la demande",
            ind.share_within_24h,
            ind.within_24h,
            ind.delay_measured,
        ),
        _rate(
            "share_within_48h",
            "Part des consultations dans les 48 h suivant la demande",
            ind.share_within_48h,
            ind.within_48h,
            ind.delay_measured,
        ),
        Figure(
            "median_delay_hours",
            "Délai médian entre la demande et la consultation",
            Unit.HOURS,
            ind.median_delay_hours,
            (ind.delay_measured,),
        ),
        _count("bookings_due", "Rendez-vous échus (hors annulations)", ind.bookings_due),
        _count("no_shows", "Rendez-vous non honorés", ind.no_shows),
        _rate(
            "no_show_rate",
            "Taux de rendez-vous non honorés",
            ind.no_show_rate,
            ind.no_shows,
            ind.bookings_due,
        ),
        _count("cancelled", "Rendez-vous annulés", ind.cancelled),
        _count(
            "dependent",
            "Consultations de patients dépendants ou en situation de handicap",
            ind.dependent,
        ),
        _count(
            "dependent_facility",
            "dont séances dans un établissement pour personnes handicapées",
            ind.dependent_facility,
        ),
        _count("dependent_mobile_kit", "dont séances avec le kit mobile", ind.dependent_mobile_kit),
        _count("psychiatric", "Téléconsultations psychiatriques", ind.psychiatric),
    ]
    out += [
        _count(f"orientation_{o.value}", f"Orientation : {ORIENTATION_LABELS[o]}", n)
        for o, n in ind.orientations
    ]
    out += [
        _count(
            "without_signed_report",
            "Consultations sans compte rendu signé",
            ind.without_signed_report,
        ),
        _count("referrals", "Adressages à un médecin relais", ind.referrals),
        _count("relays", "Comptes rendus transmis", ind.relays),
        _count("relays_to_mt", "dont au médecin traitant", ind.relays_to_mt),
        _count("relays_to_relay_doctor", "dont à un médecin relais", ind.relays_to_relay_doctor),
        _count("relays_sent", "Transmissions délivrées", ind.relays_sent),
        _count("relays_pending", "Transmissions en attente", ind.relays_pending),
        _count("relays_failed", "Transmissions en échec", ind.relays_failed),
        _rate(
            "delivery_rate",
            "Part des transmissions délivrées",
            ind.delivery_rate,
            ind.relays_sent,
            ind.relays_expected,
        ),
    ]
    out += [
        _rate(
            f"no_show_rate_{m.month}",
            f"Taux de non-honorés, {label}",
            m.rate,
            m.no_shows,
            m.due,
        )
        for m, label in zip(
            ind.no_show_trend, months_fr(m.month for m in ind.no_show_trend), strict=True
        )
    ]
    return tuple(out)


def figure(ind: Indicators, code: str) -> Figure:
    """One figure of a scope by its code."""
    return next(f for f in figures(ind) if f.code == code)


def _csv_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (a site named "=…")."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


CSV_HEADER = (
    "du",
    "au",
    "perimetre",
    "site_id",
    "code",
    "indicateur",
    "unite",
    "valeur",
    "remarque",
)


def indicators_csv(report: IndicatorReport) -> str:
    """The masked indicators of every scope, one line each (``;``-separated, decimal comma,
    as spreadsheets in French expect); a masked value says why in the last column."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for ind in report.scopes:
        for f in figures(ind):
            value = f.masked_text if f.masked else f.number()
            writer.writerow(
                (
                    report.period.start.isoformat(),
                    report.period.end.isoformat(),
                    _csv_text(ind.scope),
                    "" if ind.site_id is None else ind.site_id,
                    f.code,
                    f.label,
                    f.unit.value,
                    value,
                    f.mask_note,
                )
            )
    return out.getvalue()


def indicators_json(report: IndicatorReport) -> str:
    """The masked indicators as JSON: numbers, "< 5" for a masked count and "masqué" for a value
    computed from one (with a "note" saying why), null where not computable."""
    data: dict[str, Any] = {
        "organisation": report.organisation,
        "from": report.period.start.isoformat(),
        "to": report.period.end.isoformat(),
        "masked_below": MASK_BELOW,
        "masking": MASK_EXPLANATION,
        "scopes": [
            {
                "scope": ind.scope,
                "site_id": ind.site_id,
                "indicators": {f.code: _json_figure(f) for f in figures(ind)},
            }
            for ind in report.scopes
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def _json_figure(f: Figure) -> dict[str, Any]:
    out: dict[str, Any] = {"label": f.label, "unit": f.unit.value, "value": f.exported()}
    if f.masked:
        out["note"] = f.mask_note
    return out


# The yearly activity report: the indicators a CPTS reports to its funders, and their type.
REPORT_LINES: tuple[tuple[str, str], ...] = (
    ("consultations", "Activité"),
    ("patients_without_mt", "Accès aux soins"),
    ("share_without_mt", "Accès aux soins"),
    ("share_within_24h", "Délai d'accès aux soins"),
    ("share_within_48h", "Délai d'accès aux soins"),
    ("median_delay_hours", "Délai d'accès aux soins"),
    ("no_show_rate", "Organisation"),
    ("dependent", "Populations spécifiques"),
    ("psychiatric", "Populations spécifiques"),
    *((f"orientation_{o.value}", "Parcours de soins") for o in Orientation),
    ("referrals", "Parcours de soins"),
    ("relays", "Coordination"),
    ("delivery_rate", "Coordination"),
)
REPORT_CODES = frozenset(code for code, _ in REPORT_LINES)


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One line of the yearly report: the indicator, its type, the coordinator's initial value
    and target, the value reached (masked), and her commentary."""

    code: str
    label: str
    kind: str
    initial_value: str
    target: str
    reached: str
    commentary: str


def report_lines(cpts: Indicators, inputs: Mapping[str, ReportInputs]) -> list[ReportLine]:
    """The yearly report's lines for the whole CPTS, with the coordinator's inputs."""
    by_code = {f.code: f for f in figures(cpts)}
    empty = ReportInputs()
    return [
        ReportLine(
            code=code,
            label=by_code[code].label,
            kind=kind,
            initial_value=inputs.get(code, empty).initial_value,
            target=inputs.get(code, empty).target,
            reached=by_code[code].text(mask=True),
            commentary=inputs.get(code, empty).commentary,
        )
        for code, kind in REPORT_LINES
    ]


def site_lines(report: IndicatorReport) -> list[tuple[str, str, str, str]]:
    """Per site: name, consultations done, share within 48 h, no-show rate (masked)."""
    return [
        (
            ind.scope,
            figure(ind, "consultations").text(mask=True),
            figure(ind, "share_within_48h").text(mask=True),
            figure(ind, "no_show_rate").text(mask=True),
        )
        for ind in report.sites
    ]


def yearly_report_pdf(
    *, report: IndicatorReport, year: int, lines: Sequence[ReportLine], generated_on: dt.date
) -> bytes:
    """The yearly activity report as a French A4 PDF (masked figures)."""
    from hub.reports import pdf_style  # reportlab: loaded when first needed

    org = report.organisation or "CPTS"
    title = f"Rapport d'activité {year} : téléconsultations assistées"
    width = pdf_style.CONTENT_WIDTH

    def story() -> list[Any]:
        parts: list[Any] = [
            pdf_style.paragraph(title, "title"),
            pdf_style.paragraph(org, "subtitle"),
            *pdf_style.labelled(
                [
                    ("Période", f"du 1er janvier au 31 décembre {year}"),
                    ("Établi le", generated_on.strftime("%d/%m/%Y")),
                ]
            ),
            *pdf_style.heading("Indicateurs de la CPTS"),
            pdf_style.table(
                [
                    (ln.label, ln.kind, ln.initial_value, ln.target, ln.reached, ln.commentary)
                    for ln in lines
                ],
                header=(
                    "Indicateur",
                    "Type",
                    "Valeur initiale",
                    "Cible",
                    "Valeur atteinte",
                    "Commentaire",
                ),
                col_widths=[c * width for c in (0.26, 0.16, 0.11, 0.11, 0.11, 0.25)],
            ),
            *pdf_style.heading("Activité par site"),
            pdf_style.table(
                site_lines(report),
                header=(
                    "Site",
                    "Téléconsultations",
                    "Part dans les 48\u00a0h",  # the figure and its unit on one line
                    "Taux de non-honorés",
                ),
                col_widths=[c * width for c in (0.40, 0.20, 0.20, 0.20)],
            ),
            pdf_style.paragraph(
                MASK_EXPLANATION + " Délais mesurés de la demande de soins au début de la "
                "téléconsultation ; taux de non-honorés rapporté aux rendez-vous échus non "
                "annulés.",
                "small",
            ),
        ]
        return parts

    meta = pdf_style.PdfMeta(
        title=title,
        author=org,
        subject="Rapport d'activité de la CPTS",
        header=f"{org} · rapport d'activité {year}",
        footer=f"{org} · rapport d'activité {year}",
    )
    return pdf_style.build_pdf(story, meta)
