"""PDF/A-1b for the hub's printed documents: what turns reportlab's PDF into an archival one.

The CI-SIS (volet "Structuration minimale des documents de santé") asks for a PDF/A-1 body in
a non-structured CDA document, and the DMP keeps documents for decades. PDF/A-1b (ISO 19005-1,
level B: the look is preserved) needs, beyond what reportlab writes (PDF 1.4, embedded TrueType
subsets, a file identifier, no transparency, no encryption):

- an OutputIntent ``GTS_PDFA1`` with the ICC profile of the colours used (sRGB here, made by
  littleCMS through Pillow, with a fixed creation date so identical facts still give identical
  bytes);
- XMP metadata that repeats the document information dictionary and identifies the part and
  the level (``pdfaid:part`` 1, ``pdfaid:conformance`` B).

`archival` adds both with pikepdf (qpdf) and writes no object streams (PDF 1.4 has none).
"""

from __future__ import annotations

import datetime as dt
import functools
import io

import pikepdf
from PIL import ImageCms

PDFA_PART = "1"
PDFA_CONFORMANCE = "B"
_ICC_DATE = slice(24, 36)  # the profile header's creation dateTimeNumber (ICC.1, 7.2.1)
_ICC_FIXED_DATE = bytes.fromhex("07d0 0001 0001 0000 0000 0000")  # 2000-01-01 00:00:00


@functools.cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile, identical from one run to the next."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[_ICC_DATE] = _ICC_FIXED_DATE
    return bytes(profile)


def archival(pdf: bytes, *, created: dt.datetime | None = None) -> bytes:
    """The same document as PDF/A-1b: sRGB OutputIntent and XMP identification added, and
    ``created`` (aware) as its creation and modification dates when given."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        if created is not None:
            stamp = _pdf_date(created)
            doc.docinfo["/CreationDate"] = pikepdf.String(stamp)
            doc.docinfo["/ModDate"] = pikepdf.String(stamp)
        icc = pikepdf.Stream(doc, srgb_profile())
        icc.N = 3
        icc.Alternate = pikepdf.Name.DeviceRGB
        doc.Root.OutputIntents = pikepdf.Array(
            [
                pikepdf.Dictionary(
                    Type=pikepdf.Name.OutputIntent,
                    S=pikepdf.Name.GTS_PDFA1,
                    OutputConditionIdentifier=pikepdf.String("sRGB IEC61966-2.1"),
                    Info=pikepdf.String("sRGB IEC61966-2.1"),
                    DestOutputProfile=icc,
                )
            ]
        )
        if "/Trapped" in doc.docinfo:  # reportlab's "/False" has no XMP form pikepdf writes
            del doc.docinfo["/Trapped"]
        with doc.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
            meta.load_from_docinfo(doc.docinfo)
            meta["pdfaid:part"] = PDFA_PART
            meta["pdfaid:conformance"] = PDFA_CONFORMANCE
        out = io.BytesIO()
        doc.save(
            out,
            deterministic_id=True,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            min_version="1.4",
            force_version="1.4",
        )
        return out.getvalue()


def _pdf_date(moment: dt.datetime) -> str:
    """A PDF date string in UTC: D:YYYYMMDDHHmmSS+00'00'."""
    if moment.tzinfo is None:
        raise ValueError("a PDF date needs an aware datetime")
    return moment.astimezone(dt.UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
