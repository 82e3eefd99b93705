"""The measurement on the wire: a typed model of `devices.measurements.Measurement`.

Its JSON is the one agents of wire versions 1 and 2 have always sent (`Measurement.to_dict`):
kind, value, unit, LOINC code, the device's own time, when the cabin received it, the device's
identity and its status flags. Unknown keys are ignored, as the hub always did. A measurement
that does not validate does not spoil its frame: `read_measurement` turns it into an
`UnreadableMeasurement` that keeps the reason (the hub refuses that item alone, with the code
``invalid_measurement``) and the raw value (an agent sends its outbox row as it is).

Plausibility is not checked here: it is the hub's decision, with its own refusal code
(``implausible_value``), against the one table `devices.measurements.PLAUSIBLE_LIMITS`.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.measurements import (
    ALLOWED_UNITS,
    LOINC,
    DeviceIdentity,
    Measurement,
    MeasurementKind,
    StatusFlag,
    Unit,
)

MAX_LOINC_CHARS: Final = 20  # the hub's columns (observations) hold no more
MAX_DEVICE_TEXT_CHARS: Final = 80
MAX_DEVICE_TIME_CHARS: Final = 40


class WireDevice(BaseModel):
    """Which device took the measurement (catalogue model id, plus what the device says)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    model: str = Field(max_length=MAX_DEVICE_TEXT_CHARS)
    serial: str | None = Field(default=None, max_length=MAX_DEVICE_TEXT_CHARS)
    firmware: str | None = Field(default=None, max_length=MAX_DEVICE_TEXT_CHARS)
    manufacturer: str | None = Field(default=None, max_length=MAX_DEVICE_TEXT_CHARS)


class WireMeasurement(BaseModel):
    """One observation from one device, as the agent sends it and the hub stores it.

    ``received_at`` is when the cabin received it (timezone-aware); ``device_time`` the
    device's own clock (local, zone-less) when it sent one; ``loinc`` empty means the kind's
    default code (`loinc_code`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: MeasurementKind
    value: float = Field(allow_inf_nan=False)
    unit: Unit
    loinc: str = Field(default="", max_length=MAX_LOINC_CHARS)
    device_time: dt.datetime | None = None
    received_at: AwareDatetime
    device: WireDevice
    status: tuple[StatusFlag, ...] = ()

    @field_validator("value", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("value must be a number")
        return value

    @field_validator("received_at", "device_time", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        if value is not None and not isinstance(value, str | dt.datetime):
            raise ValueError("a time must be an ISO 8601 text")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.unit not in ALLOWED_UNITS[self.kind]:
            raise ValueError(f"{self.kind} cannot be in {self.unit}")
        try:
            self.received_at.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("received_at is out of range") from None
        device_time = self.device_time.isoformat() if self.device_time else ""
        if len(device_time) > MAX_DEVICE_TIME_CHARS:
            raise ValueError("device_time too long")
        return self

    @property
    def loinc_code(self) -> str:
        """The LOINC code of the measurement (the kind's default when none was sent)."""
        return self.loinc or LOINC[self.kind]

    @property
    def received_at_utc(self) -> dt.datetime:
        """When the cabin received it, in UTC (as the hub stores times)."""
        return self.received_at.astimezone(dt.UTC)

    @classmethod
    def from_measurement(cls, m: Measurement) -> Self:
        """The wire form of a device measurement."""
        return cls(
            kind=m.kind,
            value=m.value,
            unit=m.unit,
            loinc=m.loinc,
            device_time=m.device_time,
            received_at=m.received_at,
            device=WireDevice(
                model=m.device.model,
                serial=m.device.serial,
                firmware=m.device.firmware,
                manufacturer=m.device.manufacturer,
            ),
            status=tuple(sorted(m.status)),
        )

    def to_measurement(self) -> Measurement:
        """The device measurement this carries."""
        d = self.device
        return Measurement(
            kind=self.kind,
            value=self.value,
            unit=self.unit,
            received_at=self.received_at,
            device=DeviceIdentity(d.model, d.serial, d.firmware, d.manufacturer),
            loinc=self.loinc_code,
            device_time=self.device_time,
            status=frozenset(self.status),
        )


class UnreadableMeasurement(BaseModel):
    """What was sent in place of a measurement that does not validate, and why.

    Written back as the raw value (`as_sent`), so an agent forwards a corrupt outbox row
    unchanged and the hub refuses it (``invalid_measurement``) without refusing the rest of
    the frame."""

    model_config = ConfigDict(frozen=True)
    reason: str
    raw: JsonValue = None


def read_measurement(raw: object) -> WireMeasurement | UnreadableMeasurement:
    """The typed measurement of a value parsed from JSON, or why it is not one."""
    if isinstance(raw, WireMeasurement | UnreadableMeasurement):
        return raw
    try:
        return WireMeasurement.model_validate(raw)
    except ValidationError as exc:
        return UnreadableMeasurement(reason=summary(exc), raw=_json_or_none(raw))


def as_sent(measurement: WireMeasurement | UnreadableMeasurement) -> JsonValue:
    """The JSON form of an item's measurement: the model's, or the raw value as it came."""
    if isinstance(measurement, UnreadableMeasurement):
        return measurement.raw
    return measurement.model_dump(mode="json")


_json_value: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


def _json_or_none(raw: object) -> JsonValue:
    try:
        return _json_value.validate_python(raw)
    except ValidationError:
        return None


def summary(exc: ValidationError) -> str:
    """The first error of a validation, located ("device.model: String should have ...")."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    return f"{where}: {first['msg']}"
