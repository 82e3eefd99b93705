"""axe-core, the accessibility checker, from the npm registry: a pinned version, its tarball's
SHA-256 checked, ``axe.min.js`` cached under the test data folder; and running it on a page."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import BrowserContext, Page

AXE_VERSION = "4.14.1"
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_SHA256 = "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745"
# Where fetched test data is kept between runs (HUB_TEST_DATA_DIR, else var/test-data).
DATA_DIR = Path(
    os.environ.get("HUB_TEST_DATA_DIR") or Path(__file__).resolve().parents[2] / "var" / "test-data"
)
# What the consoles must not have: axe's two highest impacts.
BLOCKING_IMPACTS = ("serious", "critical")
AA_TEXT_RATIO = 4.5


def axe_source() -> str:
    """The text of axe.min.js, fetched once from the npm registry and checked."""
    cached = DATA_DIR / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    with urllib.request.urlopen(AXE_TARBALL, timeout=60) as response:
        tarball = response.read()
    digest = hashlib.sha256(tarball).hexdigest()
    if digest != AXE_SHA256:
        raise RuntimeError(f"{AXE_TARBALL}: SHA-256 {digest}, expected {AXE_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None
        source = member.read().decode("utf-8")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_text(source, encoding="utf-8")
    partial.replace(cached)
    return source


async def install_axe(context: BrowserContext) -> None:
    """Make ``axe`` available on every page of the context (an init script: the pages' CSP,
    which refuses inline scripts, stays as it is)."""
    await context.add_init_script(script=axe_source())


@dataclass(frozen=True, slots=True)
class Violation:
    page: str
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.targets[:4]) + (" …" if len(self.targets) > 4 else "")
        return f"{self.page}: {self.rule} ({self.impact}) {self.help} — {where}"


async def blocking_violations(page: Page, name: str) -> list[Violation]:
    """axe's serious and critical violations on the page as it is now (WCAG 2.1 A/AA, with
    colour contrast, and axe's best practices)."""
    results = await page.evaluate(
        "async () => { const r = await axe.run(document);"
        " return {violations: r.violations, incomplete: r.incomplete}; }"
    )
    found = [
        Violation(
            page=name,
            rule=str(v["id"]),
            impact=str(v["impact"]),
            help=str(v["help"]),
            targets=tuple(" ".join(map(str, n["target"])) for n in v["nodes"]),
        )
        for v in results["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
    # axe leaves text of the same colour as its background "to review" (it may be hidden on
    # purpose); on these pages such text is a label nobody can read.
    unreadable = tuple(
        " ".join(map(str, n["target"]))
        for v in results["incomplete"]
        if v["id"] == "color-contrast"
        for n in v["nodes"]
        for check in n["any"]
        if _ratio_below_aa(str(check.get("message", "")))
    )
    if unreadable:
        found.append(
            Violation(
                name, "color-contrast", "serious", "Text unreadable on its background", unreadable
            )
        )
    return found


_RATIO = re.compile(r"contrast ratio of ([0-9.]+)|has a ([0-9.]+):1 contrast ratio")


def _ratio_below_aa(message: str) -> bool:
    match = _RATIO.search(message)
    return match is not None and float(match.group(1) or match.group(2)) < AA_TEXT_RATIO
