"""Command line: `python -m devices decode PROFILE HEX` and `python -m devices simulate ...`.

`decode` prints the decoded value as JSON (serial profiles: the decoded frames and how many
bytes were discarded). Malformed input exits with status 2 and a one-line reason on stderr.
`simulate` hands its arguments to `devices.simulators.cli.run`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import importlib
import json
import string
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from devices.catalogue import GATT_PARSERS
from devices.cli_fr import FrenchArgumentParser
from devices.errors import DeviceError, FrameError
from devices.gatt.racp import RacpNumberOfRecords, RacpRequest, RacpResponse, parse_racp
from devices.gatt.time import CurrentTime, DateTime
from devices.ieee11073 import Float11073, Sfloat
from devices.serialproto.contec import Cms50Framer
from devices.serialproto.nonin import NoninDf2Framer, NoninDf8Framer

__all__ = ["PROFILES", "decode", "main", "parse_hex", "to_jsonable"]

EXIT_BAD_INPUT = 2

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def to_jsonable(value: object) -> JsonValue:
    """Return a JSON-friendly view of a decoded value (snake_case keys, UCUM units,
    ISO 8601 times, special values as "NaN", "NRes", "+INF", "-INF", "reserved")."""
    if value is None or isinstance(value, bool | str):
        return value  # StrEnum members are str: their value is the JSON form
    if isinstance(value, enum.IntEnum):
        return value.name.lower()
    if isinstance(value, int | float):
        return value
    if isinstance(value, Sfloat | Float11073):
        return value.to_json()
    if isinstance(value, DateTime):
        return value.isoformat()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_jsonable(to_json())
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [to_jsonable(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: to_jsonable(getattr(value, item.name)) for item in dataclasses.fields(value)
        }
    raise TypeError(f"cannot represent {type(value).__name__} as JSON")


def parse_hex(text: str) -> bytes:
    """Return the bytes of a hex string; spaces, colons, dashes and a 0x prefix are allowed."""
    cleaned = text.strip()
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    cleaned = "".join(ch for ch in cleaned if ch not in " :-_\t\n")
    bad = next((ch for ch in cleaned if ch not in string.hexdigits), None)
    if bad is not None:
        raise ValueError(f"invalid hex: unexpected character {bad!r}")
    if len(cleaned) % 2:
        raise ValueError(f"invalid hex: odd number of digits ({len(cleaned)})")
    return bytes.fromhex(cleaned)


def _exact(size: int, name: str, data: bytes) -> None:
    if len(data) != size:
        raise FrameError(f"{name} needs exactly {size} bytes, got {len(data)}")


def _mder(kind: type[Sfloat] | type[Float11073]) -> Callable[[bytes], JsonValue]:
    def decode_one(data: bytes) -> JsonValue:
        _exact(kind.SIZE, kind.NAME, data)
        value = kind.parse(data)
        special = value.special
        return {
            "value": value.to_json(),
            "mantissa": value.mantissa,
            "exponent": value.exponent,
            "special": None if special is None else str(special),
        }

    return decode_one


def _gatt(parse: Callable[[bytes], object]) -> Callable[[bytes], JsonValue]:
    return lambda data: to_jsonable(parse(data))


_RACP_TYPES: Mapping[type, str] = MappingProxyType(
    {
        RacpRequest: "request",
        RacpNumberOfRecords: "number_of_stored_records_response",
        RacpResponse: "response_code",
    }
)


def _racp(data: bytes) -> JsonValue:
    message = parse_racp(data)
    fields = to_jsonable(message)
    assert isinstance(fields, dict)
    return {"type": _RACP_TYPES[type(message)], **fields}


def _serial(
    name: str,
    make: Callable[[], Cms50Framer | NoninDf2Framer | NoninDf8Framer],
) -> Callable[[bytes], JsonValue]:
    def decode_stream(data: bytes) -> JsonValue:
        framer = make()
        frames = framer.feed(data)
        if not frames:
            raise FrameError(
                f"no complete {name} frame in {len(data)} bytes ({framer.discarded} discarded)"
            )
        result: dict[str, JsonValue] = {
            "frames": to_jsonable(list(frames)),
            "discarded_bytes": framer.discarded,
        }
        if isinstance(framer, NoninDf2Framer):
            result["dropped_frames"] = framer.dropped_frames
        return result

    return decode_stream


PROFILES: Mapping[str, Callable[[bytes], JsonValue]] = MappingProxyType(
    {
        "sfloat": _mder(Sfloat),
        "float": _mder(Float11073),
        **{name: _gatt(parse) for name, parse in GATT_PARSERS.items()},  # the registry's
        "racp": _racp,
        "date_time": _gatt(DateTime.parse),
        "current_time": _gatt(CurrentTime.parse),
        "cms50dplus": _serial("cms50dplus", Cms50Framer),
        "nonin_df2": _serial("nonin_df2", NoninDf2Framer),
        "nonin_df8": _serial("nonin_df8", NoninDf8Framer),
    }
)
"""Decoder of each `decode` profile: bytes in, JSON-friendly value out."""


def decode(profile: str, data: bytes) -> JsonValue:
    """Decode `data` with one profile; DeviceError when the bytes are malformed."""
    return PROFILES[profile](data)


def _build_parser() -> argparse.ArgumentParser:
    parser = FrenchArgumentParser(
        prog="python -m devices",
        description="Outils des protocoles des appareils médicaux (décodage, simulateurs).",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, title="commandes", metavar="COMMANDE"
    )
    decoder = commands.add_parser(
        "decode", help="décoder des octets donnés en hexadécimal et afficher le résultat en JSON"
    )
    decoder.add_argument(
        "profile",
        choices=sorted(PROFILES),
        metavar="PROFIL",
        help="au choix : " + ", ".join(sorted(PROFILES)),
    )
    decoder.add_argument(
        "hex",
        nargs="+",
        metavar="HEX",
        help="les octets en hexadécimal (espaces et deux-points permis)",
    )
    commands.add_parser(
        "simulate",
        help="lancer le simulateur d'un appareil (« python -m devices simulate -h » pour ses "
        "options)",
    )
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _simulate(args: Sequence[str]) -> int:
    try:
        module = importlib.import_module("devices.simulators.cli")
    except ModuleNotFoundError as error:
        if error.name not in ("devices.simulators.cli", "devices.simulators"):
            raise
        return _fail("simulators are not available (devices.simulators.cli is missing)")
    run = getattr(module, "run", None)
    if not callable(run):
        return _fail("devices.simulators.cli has no run(args) function")
    result = run(list(args))
    return result if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["simulate"]:
        return _simulate(arguments[1:])
    args = _build_parser().parse_args(arguments)
    try:
        data = parse_hex(" ".join(args.hex))
    except ValueError as error:
        return _fail(str(error))
    try:
        result = decode(args.profile, data)
    except DeviceError as error:
        return _fail(f"{args.profile}: {error}")
    print(json.dumps(result, indent=2, allow_nan=False))
    return 0
