"""Command lines in French: an ``argparse`` parser whose own words (usage, section titles, the
help option, error messages) are French, for the project's programs (hub, cabin agent, device
tools). It lives here because devices is the package every one of them already imports."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

# argparse's error messages (Python 3.11+) and their French.
_MESSAGES = (
    (re.compile(r"the following arguments are required: (.*)"), r"à indiquer : \1"),
    (re.compile(r"unrecognized arguments: (.*)"), r"arguments inconnus : \1"),
    (
        re.compile(r"invalid choice: (.*) \(choose from (.*)\)"),
        r"choix impossible : \1 (au choix : \2)",
    ),
    (re.compile(r"expected one argument"), "une valeur est attendue"),
    (re.compile(r"invalid (\w+) value: (.*)"), r"valeur non valable : \2"),
    (re.compile(r"^argument (.*?): "), r"argument \1 : "),
)


def french_message(message: str) -> str:
    """argparse's English error message in French (left as is when it is not one of them)."""
    for pattern, french in _MESSAGES:
        message = pattern.sub(french, message)
    return message


class FrenchHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Utilisation : " if prefix is None else prefix)


class FrenchArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that speaks French; its sub-commands' parsers too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
        add_help = kwargs.pop("add_help", True)
        kwargs["add_help"] = False  # a French -h instead
        super().__init__(*args, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        if add_help:
            self.add_argument(
                "-h", "--help", action="help", help="afficher cette aide et s'arrêter"
            )

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog} : erreur : {french_message(message)}\n")
