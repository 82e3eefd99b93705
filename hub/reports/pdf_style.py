"""Shared look of the hub's printed documents (A4, reportlab): fonts, paragraph styles, tables,
escaping of user text, and a page template with a running header and "Page x / y" footer.

Used by the teleconsultation report; meant to be reused by other documents (activity reports).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from hub.reports.pdfa import archival

CREATOR = "CPTS téléconsultation"
MARGIN = 18 * mm
CONTENT_WIDTH = A4[0] - 2 * MARGIN
_GREY = colors.HexColor("#555555")
_RULE = colors.HexColor("#999999")
_HEADER_FILL = colors.HexColor("#e8e8e8")
_HEADING_ROOM = 25 * mm  # a heading starts a page unless this much room is left under it
_CELL_PADDING = 6  # reportlab's left and right padding of a table cell, in points
_HEADER_MIN_SIZE = 6.5  # the smallest type a column header is shrunk to

# DejaVu Sans (Debian's fonts-dejavu-core) covers most European scripts; reportlab's bundled
# Bitstream Vera, its ancestor, is the fallback so that a PDF can always be built.
_DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
_VERA_DIR = Path(reportlab.__file__).parent / "fonts"
_FONT_FILES = (
    (_DEJAVU_DIR / "DejaVuSans.ttf", _DEJAVU_DIR / "DejaVuSans-Bold.ttf"),
    (_VERA_DIR / "Vera.ttf", _VERA_DIR / "VeraBd.ttf"),
)
# Characters a Paragraph cannot take: C0 controls other than tab and newline, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@functools.cache
def fonts() -> tuple[str, str]:
    """Register the embedded fonts once; return the (regular, bold) font names."""
    for regular, bold in _FONT_FILES:
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont("DocSans", str(regular)))
            pdfmetrics.registerFont(TTFont("DocSans-Bold", str(bold)))
            pdfmetrics.registerFontFamily(
                "DocSans",
                normal="DocSans",
                bold="DocSans-Bold",
                italic="DocSans",
                boldItalic="DocSans-Bold",
            )
            return "DocSans", "DocSans-Bold"
    return "Helvetica", "Helvetica-Bold"  # pragma: no cover - reportlab ships Vera


@functools.cache
def styles() -> dict[str, Any]:
    """The paragraph styles: title, subtitle, heading, body, small, cell, cell_header."""
    regular, bold = fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9.5, leading=12.5)
    return {
        "title": ParagraphStyle(
            "title",
            parent=body,
            fontName=bold,
            fontSize=15,
            leading=19,
            spaceBefore=6,
            spaceAfter=4,
        ),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontName=bold, textColor=_GREY),
        "heading": ParagraphStyle(
            "heading",
            parent=body,
            fontName=bold,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=3,
        ),
        "body": body,
        "strong": ParagraphStyle("strong", parent=body, fontName=bold),
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=_GREY),
        "cell": ParagraphStyle("cell", parent=body, fontSize=9, leading=11.5),
        "cell_header": ParagraphStyle("cell_header", parent=body, fontName=bold, fontSize=9),
    }


def markup(text: str) -> str:
    """Escape user text for Paragraph markup (&, <, > and control characters)."""
    cleaned = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return escape(cleaned.replace("\t", "    "))


def paragraph(text: str, style: str = "body") -> Any:
    """One paragraph of plain (escaped) text in one of ``styles()``."""
    return Paragraph(markup(text), styles()[style])


def heading(text: str) -> list[Any]:
    """A section heading, moved to the next page when it would end this one."""
    return [CondPageBreak(_HEADING_ROOM), paragraph(text, "heading")]


def text_block(text: str, *, empty: str = "Non renseigné", style: str = "body") -> list[Any]:
    """User text kept line by line (blank lines as space); ``empty`` when there is none."""
    if not text.strip():
        return [paragraph(empty, "small")]
    out: list[Any] = []
    for line in markup(text).split("\n"):
        out.append(Paragraph(line, styles()[style]) if line.strip() else Spacer(1, 5))
    return out


def labelled(pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """Lines of "Label : value" with the label in bold."""
    bold = fonts()[1]
    return [
        Paragraph(f'<font name="{bold}">{markup(k)} :</font> {markup(v)}', styles()["body"])
        for k, v in pairs
    ]


def header_cell(text: str, width: float) -> Any:
    """A column header that breaks between words only: its type is made smaller (down to
    ``_HEADER_MIN_SIZE``) until its longest word fits the column."""
    style = styles()["cell_header"]
    room = width - 2 * _CELL_PADDING
    longest = max(
        (pdfmetrics.stringWidth(w, style.fontName, style.fontSize) for w in text.split()),
        default=0.0,
    )
    size = style.fontSize
    if longest > room:
        size = max(_HEADER_MIN_SIZE, int(style.fontSize * room / longest * 10) / 10)
    fitted = ParagraphStyle(
        f"cell_header_{size}", parent=style, fontSize=size, leading=size * 1.3, splitLongWords=0
    )
    return Paragraph(markup(text), fitted)


def table(rows: Sequence[Sequence[str]], header: Sequence[str], col_widths: Sequence[float]) -> Any:
    """A sober table of plain-text cells that wrap; the header row repeats on each page and its
    words are never cut."""
    data = [[header_cell(h, w) for h, w in zip(header, col_widths, strict=True)]]
    data += [[paragraph(cell, "cell") for cell in row] for row in rows]
    result = Table(data, colWidths=list(col_widths), repeatRows=1, hAlign="LEFT")
    result.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), fonts()[0]),  # reportlab's default is Helvetica
                ("BACKGROUND", (0, 0), (-1, 0), _HEADER_FILL),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, _RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
            ]
        )
    )
    return result


@dataclass(frozen=True, slots=True)
class PdfMeta:
    """The document information dictionary and running texts of a printed document."""

    title: str
    author: str
    subject: str
    header: str  # running header, from page 2
    footer: str  # left of the page number on every page
    # When the document was made (the report: its signature), in the information dictionary
    # and the XMP; None keeps reportlab's fixed date (identical bytes whenever it is built).
    created: dt.datetime | None = None


def build_pdf(make_story: Callable[[], list[Flowable]], meta: PdfMeta) -> bytes:
    """Lay out the story on A4 pages with header and "Page x / y" footer; return the PDF
    (PDF/A-1b, see `hub.reports.pdfa`)."""
    total = _render(make_story(), meta, total=0)[1]
    pdf, pages = _render(make_story(), meta, total=total)
    if pages != total:  # pragma: no cover - the footer takes no room from the story
        raise RuntimeError(f"layout changed between passes: {total} then {pages} pages")
    return archival(pdf, created=meta.created)


def _render(story: list[Flowable], meta: PdfMeta, *, total: int) -> tuple[bytes, int]:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 4 * mm,
        bottomMargin=MARGIN + 4 * mm,
        title=meta.title,
        author=meta.author,
        subject=meta.subject,
        creator=CREATOR,
        invariant=1,
        lang="fr-FR",
        initialFontName=fonts()[0],  # else every page names Helvetica, a font not embedded
    )
    pages = 0

    def decorate(canvas: Any, doc: Any) -> None:
        nonlocal pages
        pages = doc.page
        regular = fonts()[0]
        width, height = A4
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor(_GREY)
        canvas.setStrokeColor(_RULE)
        if doc.page > 1:
            canvas.drawString(MARGIN, height - MARGIN + 1 * mm, meta.header)
            canvas.line(MARGIN, height - MARGIN, width - MARGIN, height - MARGIN)
        canvas.line(MARGIN, MARGIN + 1 * mm, width - MARGIN, MARGIN + 1 * mm)
        canvas.drawString(MARGIN, MARGIN - 3 * mm, meta.footer)
        canvas.drawRightString(width - MARGIN, MARGIN - 3 * mm, f"Page {doc.page} / {total}")
        canvas.restoreState()

    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue(), pages
