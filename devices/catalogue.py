"""The device catalogue: one frozen record per supported device model, looked up by id.

A record says what the device is (kind), how it is reached (transport), and how to read it:
GATT service UUIDs and characteristic parsers for BLE models, line settings, start command
and framer for serial models, capture settings for audio and video models. Plausibility limits
are not per model: `devices.measurements.PLAUSIBLE_LIMITS` is the one table, which the hub
applies too (it does not trust the agent's word on which model took a reading).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType

from devices.errors import UnknownDeviceModel
from devices.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
)
from devices.gatt.device_information import CharacteristicUuid, ServiceUuid
from devices.gatt.plx import PlxContinuousMeasurement, PlxFeatures, PlxSpotCheckMeasurement
from devices.gatt.racp import parse_racp
from devices.gatt.thermometer import (
    IntermediateTemperature,
    TemperatureMeasurement,
    TemperatureTypeCharacteristic,
)
from devices.serialproto import Framer
from devices.serialproto.contec import (
    KEEPALIVE_COMMAND,
    LIVE_START_COMMAND,
    LIVE_STOP_COMMAND,
    Cms50Framer,
    Cms50Protocol,
)
from devices.serialproto.nonin import NoninDf2Framer, NoninDf8Framer

__all__ = [
    "CATALOGUE",
    "AudioSettings",
    "CharacteristicRole",
    "DeviceKind",
    "DeviceModel",
    "GattCharacteristic",
    "SerialSettings",
    "Transport",
    "VideoSettings",
    "get_model",
    "models_for_service",
]


class DeviceKind(enum.StrEnum):
    BLOOD_PRESSURE_CUFF = "blood_pressure_cuff"
    THERMOMETER = "thermometer"
    PULSE_OXIMETER = "pulse_oximeter"
    STETHOSCOPE = "stethoscope"
    OTOSCOPE = "otoscope"
    CAMERA = "camera"


class Transport(enum.StrEnum):
    BLE = "ble"
    SERIAL = "serial"
    AUDIO = "audio"
    VIDEO = "video"


class CharacteristicRole(enum.StrEnum):
    """How a driver uses a characteristic."""

    MEASUREMENT = "measurement"  # final readings: indications/notifications to store
    LIVE = "live"  # intermediate values, shown but not stored
    FEATURE = "feature"  # read once after connecting
    CONTROL_POINT = "control_point"  # written to (RACP), answers by indication


@dataclass(frozen=True, slots=True)
class GattCharacteristic:
    """One characteristic a BLE model exposes and the callable that decodes its value."""

    uuid: int
    role: CharacteristicRole
    parse: Callable[[bytes], object]
    required: bool = True


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings and commands of a serial model."""

    baudrate: int
    framer: Callable[[], Framer]
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    start_command: bytes = b""
    stop_command: bytes = b""
    keepalive_command: bytes = b""
    keepalive_interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class AudioSettings:
    """Capture settings of an audio device (a USB stethoscope is a sound card)."""

    sample_rate_hz: int
    channels: int = 1


@dataclass(frozen=True, slots=True)
class VideoSettings:
    """Capture settings of a video device (UVC camera or otoscope)."""

    width: int
    height: int
    frames_per_second: int


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """One supported device model."""

    model_id: str
    display_name: str
    kind: DeviceKind
    transport: Transport
    manufacturer: str | None = None
    service_uuids: tuple[int, ...] = ()
    characteristics: tuple[GattCharacteristic, ...] = ()
    serial: SerialSettings | None = None
    audio: AudioSettings | None = None
    video: VideoSettings | None = None

    def characteristic(self, uuid: int) -> GattCharacteristic | None:
        """The characteristic with this 16-bit UUID, if the model uses it."""
        return next((c for c in self.characteristics if c.uuid == uuid), None)

    def characteristics_with(self, role: CharacteristicRole) -> Iterator[GattCharacteristic]:
        """The characteristics used in one role."""
        return (c for c in self.characteristics if c.role is role)


_C = CharacteristicUuid
_R = CharacteristicRole

_MODELS = (
    DeviceModel(
        model_id="generic_gatt_cuff",
        display_name="Bluetooth blood pressure monitor (GATT Blood Pressure profile)",
        kind=DeviceKind.BLOOD_PRESSURE_CUFF,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.BLOOD_PRESSURE,),
        characteristics=(
            GattCharacteristic(_C.BLOOD_PRESSURE_MEASUREMENT, _R.MEASUREMENT,
                               BloodPressureMeasurement.parse),
            GattCharacteristic(_C.INTERMEDIATE_CUFF_PRESSURE, _R.LIVE,
                               IntermediateCuffPressure.parse, required=False),
            GattCharacteristic(_C.BLOOD_PRESSURE_FEATURE, _R.FEATURE,
                               BloodPressureFeature.parse),
        ),
    ),
    DeviceModel(
        model_id="generic_gatt_thermometer",
        display_name="Bluetooth thermometer (GATT Health Thermometer profile)",
        kind=DeviceKind.THERMOMETER,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.HEALTH_THERMOMETER,),
        characteristics=(
            GattCharacteristic(_C.TEMPERATURE_MEASUREMENT, _R.MEASUREMENT,
                               TemperatureMeasurement.parse),
            GattCharacteristic(_C.INTERMEDIATE_TEMPERATURE, _R.LIVE,
                               IntermediateTemperature.parse, required=False),
            GattCharacteristic(_C.TEMPERATURE_TYPE, _R.FEATURE,
                               TemperatureTypeCharacteristic.parse, required=False),
        ),
    ),
    DeviceModel(
        model_id="generic_gatt_oximeter",
        display_name="Bluetooth pulse oximeter (GATT Pulse Oximeter profile)",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.PULSE_OXIMETER,),
        characteristics=(
            GattCharacteristic(_C.PLX_SPOT_CHECK_MEASUREMENT, _R.MEASUREMENT,
                               PlxSpotCheckMeasurement.parse, required=False),
            GattCharacteristic(_C.PLX_CONTINUOUS_MEASUREMENT, _R.MEASUREMENT,
                               PlxContinuousMeasurement.parse, required=False),
            GattCharacteristic(_C.PLX_FEATURES, _R.FEATURE, PlxFeatures.parse),
            GattCharacteristic(_C.RECORD_ACCESS_CONTROL_POINT, _R.CONTROL_POINT, parse_racp,
                               required=False),
        ),
    ),
    DeviceModel(
        model_id="contec_cms50d_plus",
        display_name="Contec CMS50D+ (firmware 4.6 and later)",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Contec Medical Systems",
        serial=SerialSettings(
            baudrate=115200,
            framer=partial(Cms50Framer, Cms50Protocol.FRAMED),
            start_command=LIVE_START_COMMAND,
            stop_command=LIVE_STOP_COMMAND,
            keepalive_command=KEEPALIVE_COMMAND,
            keepalive_interval_s=5.0,
        ),
    ),
    DeviceModel(
        model_id="contec_cms50d_plus_legacy",
        display_name="Contec CMS50D+ (legacy firmware, streams on its own)",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Contec Medical Systems",
        serial=SerialSettings(
            baudrate=19200, framer=partial(Cms50Framer, Cms50Protocol.LEGACY)
        ),
    ),
    DeviceModel(
        model_id="nonin_df2",
        display_name="Nonin pulse oximeter, serial data format #2",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Nonin Medical",
        serial=SerialSettings(baudrate=9600, framer=NoninDf2Framer),
    ),
    DeviceModel(
        model_id="nonin_df8",
        display_name="Nonin pulse oximeter, serial data format #8",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Nonin Medical",
        serial=SerialSettings(baudrate=9600, framer=NoninDf8Framer),
    ),
    DeviceModel(
        model_id="usb_stethoscope",
        display_name="USB electronic stethoscope (USB audio class)",
        kind=DeviceKind.STETHOSCOPE,
        transport=Transport.AUDIO,
        audio=AudioSettings(sample_rate_hz=48000, channels=1),
    ),
    DeviceModel(
        model_id="usb_otoscope",
        display_name="USB video otoscope (UVC)",
        kind=DeviceKind.OTOSCOPE,
        transport=Transport.VIDEO,
        video=VideoSettings(width=1280, height=720, frames_per_second=30),
    ),
    DeviceModel(
        model_id="room_camera",
        display_name="Room camera (UVC)",
        kind=DeviceKind.CAMERA,
        transport=Transport.VIDEO,
        video=VideoSettings(width=1280, height=720, frames_per_second=30),
    ),
)

CATALOGUE: Mapping[str, DeviceModel] = MappingProxyType({m.model_id: m for m in _MODELS})
"""Every supported model, by model id."""


def get_model(model_id: str) -> DeviceModel:
    """Return the catalogue record of `model_id`; UnknownDeviceModel if there is none."""
    try:
        return CATALOGUE[model_id]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownDeviceModel(f"unknown device model {model_id!r} (known: {known})") from None


def models_for_service(service_uuid: int) -> tuple[DeviceModel, ...]:
    """The BLE models that advertise or expose this 16-bit service UUID."""
    return tuple(m for m in _MODELS if service_uuid in m.service_uuids)
