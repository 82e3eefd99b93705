"""The device registry: one frozen record per supported device model, looked up by id.

A record says what the device is (kind, with its French label and whether the nurse can ask
it for a measurement), how it is reached (transport), how to read it (GATT service UUIDs and
characteristic parsers for BLE models — the BLE driver's profile is derived from them —, line
settings, start command and framer for serial models, capture settings for audio and video
models), which measurement kinds it gives and so its plausibility limits, and its simulator.
Each parsed value converts itself to measurements (`Reading.to_measurements`, beside its
parser). Limits are one table, `devices.measurements.PLAUSIBLE_LIMITS` (by measurement kind),
which the hub applies too: it does not trust the agent's word on which model took a reading.
Everything else that lists devices (the agent's configuration, its simulations, the consoles'
labels, the fuzz tests) derives from this table.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
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
from devices.gatt.weight_scale import WeightMeasurement, WeightScaleFeature
from devices.measurements import PLAUSIBLE_LIMITS, MeasurementKind, PlausibleRange
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
    "GATT_PARSERS",
    "GATT_PARSERS_BY_UUID",
    "AudioSettings",
    "CharacteristicRole",
    "DeviceKind",
    "DeviceModel",
    "GattCharacteristic",
    "SerialSettings",
    "Simulator",
    "Transport",
    "VideoSettings",
    "describe_device",
    "get_model",
    "is_serial_number",
    "models_for_service",
]


class DeviceKind(enum.StrEnum):
    BLOOD_PRESSURE_CUFF = "blood_pressure_cuff"
    THERMOMETER = "thermometer"
    PULSE_OXIMETER = "pulse_oximeter"
    STETHOSCOPE = "stethoscope"
    OTOSCOPE = "otoscope"
    CAMERA = "camera"
    WEIGHT_SCALE = "weight_scale"

    @property
    def label(self) -> str:
        """The French name of the kind, as the nurse's and the doctor's pages show it."""
        return _KIND_LABELS[self]

    @property
    def measurable(self) -> bool:
        """Whether the nurse or the doctor can ask it for a measurement ("Mesurer")."""
        return self in _MEASURABLE


_KIND_LABELS: Mapping[DeviceKind, str] = MappingProxyType(
    {
        DeviceKind.BLOOD_PRESSURE_CUFF: "Tensiomètre",
        DeviceKind.THERMOMETER: "Thermomètre",
        DeviceKind.PULSE_OXIMETER: "Oxymètre de pouls",
        DeviceKind.STETHOSCOPE: "Stéthoscope",
        DeviceKind.OTOSCOPE: "Otoscope",
        DeviceKind.CAMERA: "Caméra de la salle",
        DeviceKind.WEIGHT_SCALE: "Pèse-personne",
    }
)
_MEASURABLE = frozenset(
    {
        DeviceKind.BLOOD_PRESSURE_CUFF,
        DeviceKind.THERMOMETER,
        DeviceKind.PULSE_OXIMETER,
        DeviceKind.WEIGHT_SCALE,
    }
)


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
    """One characteristic a BLE model exposes and the callable that decodes its value
    (`name` is its profile in `python -m devices decode` and the fuzz tests)."""

    uuid: int
    role: CharacteristicRole
    parse: Callable[[bytes], object]
    name: str
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
class Simulator:
    """A model's simulator: a class of `devices.simulators` and its fixed arguments, imported
    only when a simulator is made (programs that only decode never load bumble or ptys)."""

    module: str
    name: str
    args: tuple[object, ...] = ()
    kwargs: Mapping[str, object] = field(default_factory=dict)

    def __call__(self, *args: object, **kwargs: object) -> object:
        """A new simulator; `args`/`kwargs` come after the fixed ones (e.g. the BLE air)."""
        factory: Callable[..., object] = getattr(importlib.import_module(self.module), self.name)
        return factory(*args, *self.args, **{**self.kwargs, **kwargs})


_BLE_SIMULATORS = "devices.simulators.ble_devices"
_SERIAL_SIMULATORS = "devices.simulators.serial_devices"


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """One supported device model."""

    model_id: str
    model_name: str  # as documents print it after the kind's label, in French ("Contec CMS50D+")
    display_name: str
    kind: DeviceKind
    transport: Transport
    manufacturer: str | None = None
    service_uuids: tuple[int, ...] = ()
    characteristics: tuple[GattCharacteristic, ...] = ()
    serial: SerialSettings | None = None
    audio: AudioSettings | None = None
    video: VideoSettings | None = None
    measures: tuple[MeasurementKind, ...] = ()
    simulator: Simulator | None = None

    @property
    def label(self) -> str:
        """The French name of the device's kind ("Tensiomètre")."""
        return self.kind.label

    @property
    def document_name(self) -> str:
        """The device as reports name it: French label and model ("Oxymètre de pouls Contec
        CMS50D+")."""
        return f"{self.label} {self.model_name}"

    @property
    def measurable(self) -> bool:
        """Whether it can be asked for a measurement ("Mesurer")."""
        return self.kind.measurable

    @property
    def plausible_limits(self) -> Mapping[MeasurementKind, PlausibleRange]:
        """The limits applied to its measurements (views of the one `PLAUSIBLE_LIMITS`)."""
        return MappingProxyType({kind: PLAUSIBLE_LIMITS[kind] for kind in self.measures})

    def characteristic(self, uuid: int) -> GattCharacteristic | None:
        """The characteristic with this 16-bit UUID, if the model uses it."""
        return next((c for c in self.characteristics if c.uuid == uuid), None)

    def characteristics_with(self, role: CharacteristicRole) -> Iterator[GattCharacteristic]:
        """The characteristics used in one role."""
        return (c for c in self.characteristics if c.role is role)


_C = CharacteristicUuid
_R = CharacteristicRole
_K = MeasurementKind
_BLOOD_PRESSURE = (
    _K.BLOOD_PRESSURE_SYSTOLIC,
    _K.BLOOD_PRESSURE_DIASTOLIC,
    _K.BLOOD_PRESSURE_MEAN,
    _K.PULSE_RATE,
)
_OXIMETRY = (_K.SPO2, _K.PULSE_RATE, _K.PERFUSION_INDEX)

_MODELS = (
    DeviceModel(
        model_id="generic_gatt_cuff",
        model_name="Bluetooth (profil standard)",
        display_name="Bluetooth blood pressure monitor (GATT Blood Pressure profile)",
        kind=DeviceKind.BLOOD_PRESSURE_CUFF,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.BLOOD_PRESSURE,),
        characteristics=(
            GattCharacteristic(
                _C.BLOOD_PRESSURE_MEASUREMENT,
                _R.MEASUREMENT,
                BloodPressureMeasurement.parse,
                "blood_pressure_measurement",
            ),
            GattCharacteristic(
                _C.INTERMEDIATE_CUFF_PRESSURE,
                _R.LIVE,
                IntermediateCuffPressure.parse,
                "intermediate_cuff_pressure",
                required=False,
            ),
            GattCharacteristic(
                _C.BLOOD_PRESSURE_FEATURE,
                _R.FEATURE,
                BloodPressureFeature.parse,
                "blood_pressure_feature",
            ),
        ),
        measures=_BLOOD_PRESSURE,
        simulator=Simulator(_BLE_SIMULATORS, "SimulatedCuff"),
    ),
    DeviceModel(
        model_id="generic_gatt_thermometer",
        model_name="Bluetooth (profil standard)",
        display_name="Bluetooth thermometer (GATT Health Thermometer profile)",
        kind=DeviceKind.THERMOMETER,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.HEALTH_THERMOMETER,),
        characteristics=(
            GattCharacteristic(
                _C.TEMPERATURE_MEASUREMENT,
                _R.MEASUREMENT,
                TemperatureMeasurement.parse,
                "temperature_measurement",
            ),
            GattCharacteristic(
                _C.INTERMEDIATE_TEMPERATURE,
                _R.LIVE,
                IntermediateTemperature.parse,
                "intermediate_temperature",
                required=False,
            ),
            GattCharacteristic(
                _C.TEMPERATURE_TYPE,
                _R.FEATURE,
                TemperatureTypeCharacteristic.parse,
                "temperature_type",
                required=False,
            ),
        ),
        measures=(_K.BODY_TEMPERATURE,),
        simulator=Simulator(_BLE_SIMULATORS, "SimulatedThermometer"),
    ),
    DeviceModel(
        model_id="generic_gatt_oximeter",
        model_name="Bluetooth (profil standard)",
        display_name="Bluetooth pulse oximeter (GATT Pulse Oximeter profile)",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.PULSE_OXIMETER,),
        characteristics=(
            GattCharacteristic(
                _C.PLX_SPOT_CHECK_MEASUREMENT,
                _R.MEASUREMENT,
                PlxSpotCheckMeasurement.parse,
                "plx_spot_check",
                required=False,
            ),
            GattCharacteristic(
                _C.PLX_CONTINUOUS_MEASUREMENT,
                _R.MEASUREMENT,
                PlxContinuousMeasurement.parse,
                "plx_continuous",
                required=False,
            ),
            GattCharacteristic(_C.PLX_FEATURES, _R.FEATURE, PlxFeatures.parse, "plx_features"),
            GattCharacteristic(
                _C.RECORD_ACCESS_CONTROL_POINT, _R.CONTROL_POINT, parse_racp, "racp", required=False
            ),
        ),
        measures=_OXIMETRY,
        simulator=Simulator(_BLE_SIMULATORS, "SimulatedOximeter"),
    ),
    DeviceModel(
        model_id="generic_gatt_weight_scale",
        model_name="Bluetooth (profil standard)",
        display_name="Bluetooth weight scale (GATT Weight Scale profile)",
        kind=DeviceKind.WEIGHT_SCALE,
        transport=Transport.BLE,
        service_uuids=(ServiceUuid.WEIGHT_SCALE,),
        characteristics=(
            GattCharacteristic(
                _C.WEIGHT_MEASUREMENT, _R.MEASUREMENT, WeightMeasurement.parse, "weight_measurement"
            ),
            GattCharacteristic(
                _C.WEIGHT_SCALE_FEATURE,
                _R.FEATURE,
                WeightScaleFeature.parse,
                "weight_scale_feature",
            ),
        ),
        measures=(_K.BODY_WEIGHT,),
        simulator=Simulator(_BLE_SIMULATORS, "SimulatedWeightScale"),
    ),
    DeviceModel(
        model_id="contec_cms50d_plus",
        model_name="Contec CMS50D+",
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
        measures=_OXIMETRY[:2],
        simulator=Simulator(
            _SERIAL_SIMULATORS,
            "SerialOximeterSimulator",
            ("contec-cms50d-plus",),
            {"contec_protocol": Cms50Protocol.FRAMED},
        ),
    ),
    DeviceModel(
        model_id="contec_cms50d_plus_legacy",
        model_name="Contec CMS50D+ (ancien micrologiciel)",
        display_name="Contec CMS50D+ (legacy firmware, streams on its own)",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Contec Medical Systems",
        serial=SerialSettings(baudrate=19200, framer=partial(Cms50Framer, Cms50Protocol.LEGACY)),
        measures=_OXIMETRY[:2],
        simulator=Simulator(
            _SERIAL_SIMULATORS,
            "SerialOximeterSimulator",
            ("contec-cms50d-plus",),
            {"contec_protocol": Cms50Protocol.LEGACY},
        ),
    ),
    DeviceModel(
        model_id="nonin_df2",
        model_name="Nonin (protocole série 2)",
        display_name="Nonin pulse oximeter, serial data format #2",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Nonin Medical",
        serial=SerialSettings(baudrate=9600, framer=NoninDf2Framer),
        measures=_OXIMETRY[:2],
        simulator=Simulator(_SERIAL_SIMULATORS, "SerialOximeterSimulator", ("nonin-df2",)),
    ),
    DeviceModel(
        model_id="nonin_df8",
        model_name="Nonin (protocole série 8)",
        display_name="Nonin pulse oximeter, serial data format #8",
        kind=DeviceKind.PULSE_OXIMETER,
        transport=Transport.SERIAL,
        manufacturer="Nonin Medical",
        serial=SerialSettings(baudrate=9600, framer=NoninDf8Framer),
        measures=_OXIMETRY[:2],
    ),
    DeviceModel(
        model_id="usb_stethoscope",
        model_name="électronique USB",
        display_name="USB electronic stethoscope (USB audio class)",
        kind=DeviceKind.STETHOSCOPE,
        transport=Transport.AUDIO,
        audio=AudioSettings(sample_rate_hz=48000, channels=1),
    ),
    DeviceModel(
        model_id="usb_otoscope",
        model_name="vidéo USB",
        display_name="USB video otoscope (UVC)",
        kind=DeviceKind.OTOSCOPE,
        transport=Transport.VIDEO,
        video=VideoSettings(width=1280, height=720, frames_per_second=30),
    ),
    DeviceModel(
        model_id="room_camera",
        model_name="USB",
        display_name="Room camera (UVC)",
        kind=DeviceKind.CAMERA,
        transport=Transport.VIDEO,
        video=VideoSettings(width=1280, height=720, frames_per_second=30),
    ),
)

CATALOGUE: Mapping[str, DeviceModel] = MappingProxyType({m.model_id: m for m in _MODELS})
"""Every supported model, by model id."""


GATT_PARSERS: Mapping[str, Callable[[bytes], object]] = MappingProxyType(
    {c.name: c.parse for m in _MODELS for c in m.characteristics}
)
"""The parser of every characteristic of the registry's BLE models, by profile name."""
GATT_PARSERS_BY_UUID: Mapping[int, Callable[[bytes], object]] = MappingProxyType(
    {c.uuid: c.parse for m in _MODELS for c in m.characteristics}
)
"""The same parsers by 16-bit characteristic UUID."""


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


# What a driver may have put where a serial number goes and is a port, not the device's number:
# a path (/dev/ttyUSB0, /tmp/…, a pseudo-terminal), a Windows port (COM3), a bare tty/pty name.
_PORT = re.compile(r"(?i)[/\\].*|com\d+|(tty|pty|pts)[\w.-]*")


def is_serial_number(value: str | None) -> bool:
    """Whether ``value`` can be a device's serial number (not empty, not a port or a path)."""
    text = (value or "").strip()
    return bool(text) and _PORT.fullmatch(text) is None


def describe_device(model_id: str, *, serial: str | None = None, fallback: str = "") -> str:
    """How documents name the device that took a reading: the registry's French label and
    model, then its serial number when it has a real one ("Tensiomètre Bluetooth (profil
    standard) n° SIM-0001"); ``fallback`` (or the id) for a model the registry does not know."""
    model = CATALOGUE.get(model_id)
    name = model.document_name if model is not None else (fallback or model_id)
    return f"{name} n° {serial.strip()}" if serial and is_serial_number(serial) else name
