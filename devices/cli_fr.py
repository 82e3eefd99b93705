"""Command lines in French: an ``argparse`` parser whose own words (usage, section titles, the
help option, error messages) are French, for the project's programs (hub, cabin agent, device
tools), and settings errors said in French (``validation_message``). It lives here because
devices is the package every one of them already imports."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
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


# pydantic's error types (``ValidationError.errors()``), said in French; {…} from the error's ctx.
_VALIDATION = {
    "missing": "à indiquer",
    "extra_forbidden": "réglage inconnu",
    "int_parsing": "un nombre entier est attendu",
    "int_type": "un nombre entier est attendu",
    "int_from_float": "un nombre entier est attendu",
    "float_parsing": "un nombre est attendu",
    "float_type": "un nombre est attendu",
    "bool_parsing": "true ou false est attendu",
    "bool_type": "true ou false est attendu",
    "string_type": "un texte est attendu",
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit valoir au moins {ge}",
    "less_than": "doit être inférieur à {lt}",
    "less_than_equal": "doit valoir au plus {le}",
    "multiple_of": "doit être un multiple de {multiple_of}",
    "string_too_short": "{min_length} caractère(s) au moins",
    "string_too_long": "{max_length} caractères au plus",
    "enum": "valeur attendue parmi : {expected}",
    "literal_error": "valeur attendue parmi : {expected}",
    "url_parsing": "adresse (URL) non valable",
    "url_scheme": "adresse (URL) non valable : {expected_schemes} attendu",
    "url_type": "adresse (URL) non valable",
    "path_type": "un chemin de fichier est attendu",
    "list_type": "une liste est attendue",
    "model_type": "une section est attendue",
    "dict_type": "une section est attendue",
}


def _said(value: object) -> str:
    """A limit as a French reader writes it: 30, not 30.0; 0,5, not 0.5."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value).replace(".", ",")
    return str(value)


def validation_message(error: Mapping[str, Any]) -> str:
    """One pydantic validation error (an item of ``ValidationError.errors()``) in French: the
    project's own checks already say theirs in French; pydantic's are translated, with the
    value typed when it is short text (never for a model's own check, which sees secrets)."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    template = _VALIDATION.get(kind)
    if template is None:
        return f"valeur non valable ({message})"
    ctx = error.get("ctx") or {}
    try:
        said = template.format(**{k: _said(v) for k, v in dict(ctx).items()})
    except (KeyError, IndexError):
        said = template.split(":")[0].split("{")[0].strip()
    value = error.get("input")
    if kind != "missing" and isinstance(value, str | int | float) and len(str(value)) <= 60:
        said += f" (« {value} »)"
    return said
