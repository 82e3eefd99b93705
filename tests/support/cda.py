"""Run the vendored ANS CDA validator (tests/conformance/validate_cda.py) on a batch of documents.

The validator loads Saxon and a 10 MB compiled schematron on every run (several seconds), so
the documents of a test module are validated together, in one subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VALIDATOR = Path(__file__).resolve().parents[1] / "conformance" / "validate_cda.py"
CHECKS = ("XSD", "TLM-CR", "StrucMin", "IHE")

_HEADER = re.compile(r"^== (?P<path>.+)$")
_CHECK = re.compile(r"^  (?P<verdict>PASS|FAIL)  (?P<check>\S+)")
_MESSAGE = re.compile(r"^ {10}(?:- (?P<message>.*)|(?P<more>\.\.\. \d+ more))$")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class CdaVerdict:
    """What the validator said about one document."""

    name: str
    checks: dict[str, bool]  # check name (XSD, TLM-CR, StrucMin, IHE) -> passed
    messages: tuple[str, ...]  # the errors and warnings it printed (at most 3 per check)
    output: str  # its whole report on this document, for assertion messages

    @property
    def passed(self) -> bool:
        """Every check ran, and passed."""
        return set(self.checks) == set(CHECKS) and all(self.checks.values())

    def failed_checks(self) -> list[str]:
        return [check for check in CHECKS if not self.checks.get(check, False)]


def validate_cda(
    documents: Mapping[str, bytes], *, workdir: Path, cache_dir: Path, timeout: float = 900
) -> dict[str, CdaVerdict]:
    """Validate ``documents`` (name -> XML bytes) in one validator run; return name -> verdict.

    The documents are written to ``workdir/<name>.xml``; the compiled schematrons are kept in
    ``cache_dir`` (``CDA_VALIDATOR_CACHE``), so later runs skip compiling them.
    """
    paths: dict[Path, str] = {}
    for name, xml in documents.items():
        if not _NAME.match(name):
            raise ValueError(f"document name {name!r}: use letters, digits, - and _")
        path = (workdir / f"{name}.xml").resolve()
        path.write_bytes(xml)
        paths[path] = name
    env = {**os.environ, "CDA_VALIDATOR_CACHE": str(cache_dir)}
    run = subprocess.run(
        [sys.executable, str(VALIDATOR), *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if run.returncode not in (0, 1):
        raise RuntimeError(f"validator exited with {run.returncode}:\n{run.stdout}\n{run.stderr}")
    verdicts = _parse(run.stdout, paths)
    missing = set(documents) - set(verdicts)
    if missing:
        raise RuntimeError(f"no verdict for {sorted(missing)}:\n{run.stdout}\n{run.stderr}")
    return verdicts


def _parse(stdout: str, paths: Mapping[Path, str]) -> dict[str, CdaVerdict]:
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        header = _HEADER.match(line)
        if header:
            current = blocks.setdefault(paths[Path(header["path"])], [])
        elif line.startswith("RESULT:"):
            current = None
        elif current is not None:
            current.append(line)
    verdicts = {}
    for name, lines in blocks.items():
        checks: dict[str, bool] = {}
        messages: list[str] = []
        for line in lines:
            check = _CHECK.match(line)
            message = _MESSAGE.match(line)
            if check:
                checks[check["check"]] = check["verdict"] == "PASS"
            elif message and message["message"] is not None:
                messages.append(message["message"])
        verdicts[name] = CdaVerdict(name, checks, tuple(messages), "\n".join(lines))
    return verdicts
