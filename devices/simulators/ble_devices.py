"""Simulated BLE blood-pressure cuff, thermometer, pulse oximeter and weight scale.

Each speaks the real GATT bytes (encoded with the `devices.gatt` value types) on an
`EmulatedAir`, and is driven by method calls: `measure(...)` takes a measurement,
`vanish()` drops the link (optionally in the middle of a measurement), `come_back()`.
`take_reading(rng, seconds)` stands for the patient when the nurse presses "Mesurer": it
starts a plausible reading in the background and returns what she is told (in French).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from bumble import gatt

from devices.gatt.blood_pressure import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BloodPressureStatus,
    IntermediateCuffPressure,
)
from devices.gatt.plx import (
    PlxContinuousMeasurement,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheckMeasurement,
    PlxSupportedFeatures,
)
from devices.gatt.thermometer import (
    IntermediateTemperature,
    TemperatureMeasurement,
    TemperatureType,
    TemperatureTypeCharacteristic,
)
from devices.gatt.time import DateTime
from devices.gatt.weight_scale import WeightMeasurement, WeightScaleFeature
from devices.ieee11073 import Float11073, Sfloat
from devices.simulators.ble_peripheral import SimulatedPeripheral, characteristic
from devices.simulators.bumble_backend import EmulatedAir

_READ = gatt.Characteristic.Properties.READ
_NOTIFY = gatt.Characteristic.Properties.NOTIFY


class SimulatedCuff(SimulatedPeripheral):
    """A blood-pressure monitor (service 0x1810): cuff pressure while measuring, then a result."""

    service_uuid = "1810"
    measurement_uuid = "2A35"

    def __init__(
        self,
        air: EmulatedAir,
        *,
        name: str = "SIM-BP",
        address: str = "F1:B0:00:00:00:01",
        model: str = "SIM-BPM-1",
        **kwargs: Any,
    ) -> None:
        self.intermediate = characteristic("2A36", _NOTIFY)
        self.feature = characteristic("2A49", _READ, bytes(BloodPressureFeature()))
        super().__init__(air, name=name, address=address, model=model, **kwargs)

    def health_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.measurement, self.intermediate, self.feature]

    async def measure(
        self,
        systolic: int = 120,
        diastolic: int = 80,
        pulse: int = 72,
        *,
        vanish_midway: bool = False,
        step_mmhg: int = 10,
        step_seconds: float = 0.0,
    ) -> int:
        """Inflate, deflate while notifying cuff pressure, then store and indicate the result.

        With `vanish_midway`, the device drops the link halfway through deflation, finishes
        the measurement on its own and keeps it in memory. Returns the record's sequence number.
        """
        peak = systolic + 30
        pressures = [*range(0, peak, 20), *range(peak, diastolic - 10, -step_mmhg)]
        for index, pressure in enumerate(pressures):
            if vanish_midway and index == len(pressures) * 2 // 3:
                await self.vanish()
            value = IntermediateCuffPressure.of(Sfloat.from_float(pressure))
            await self.notify(self.intermediate, bytes(value))
            await self._sleep(step_seconds)
        mean = round(diastolic + (systolic - diastolic) / 3)
        record = BloodPressureMeasurement(
            Sfloat.from_float(systolic),
            Sfloat.from_float(diastolic),
            Sfloat.from_float(mean),
            timestamp=DateTime.from_datetime(self.device_time()),
            pulse_rate=Sfloat.from_float(pulse),
            user_id=1,
            status=BloodPressureStatus(),
        )
        return await self.complete(bytes(record))

    def take_reading(self, rng: random.Random, seconds: float) -> str:
        """Start a plausible blood pressure; say so to the nurse."""
        values = rng.randint(110, 150), rng.randint(65, 95), rng.randint(58, 95)
        self._spawn(self._measured(self.measure(*values, step_seconds=0.15)))
        return "Mesure de la tension lancée : le résultat arrive dans quelques secondes."


class SimulatedThermometer(SimulatedPeripheral):
    """A health thermometer (service 0x1809): intermediate temperatures, then a result."""

    service_uuid = "1809"
    measurement_uuid = "2A1C"

    def __init__(
        self,
        air: EmulatedAir,
        *,
        name: str = "SIM-THERMO",
        address: str = "F1:7E:00:00:00:01",
        model: str = "SIM-IRT-1",
        **kwargs: Any,
    ) -> None:
        self.intermediate = characteristic("2A1E", _NOTIFY)
        self.temperature_type = characteristic(
            "2A1D", _READ, bytes(TemperatureTypeCharacteristic(TemperatureType.TYMPANUM))
        )
        super().__init__(air, name=name, address=address, model=model, **kwargs)

    def health_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.measurement, self.intermediate, self.temperature_type]

    async def measure(
        self,
        celsius: float = 37.2,
        *,
        steps: int = 3,
        step_seconds: float = 0.0,
        vanish_midway: bool = False,
    ) -> int:
        """Notify converging intermediate temperatures, then store and indicate the result."""
        for index in range(steps):
            if vanish_midway and index == steps // 2:
                await self.vanish()
            partial = round(celsius - 1.5 * (steps - index) / steps, 1)
            await self.notify(
                self.intermediate, bytes(IntermediateTemperature(Float11073.from_float(partial)))
            )
            await self._sleep(step_seconds)
        record = TemperatureMeasurement(
            Float11073.from_float(round(celsius, 1)),
            timestamp=DateTime.from_datetime(self.device_time()),
            temperature_type=TemperatureType.TYMPANUM,
        )
        return await self.complete(bytes(record))

    def take_reading(self, rng: random.Random, seconds: float) -> str:
        """Start a plausible temperature, converging over about a second as an ear
        thermometer's does (its result never comes within milliseconds of the nurse's
        press); say so to the nurse."""
        celsius = round(rng.uniform(36.4, 38.6), 1)
        self._spawn(self._measured(self.measure(celsius, steps=4, step_seconds=0.3)))
        return "Prise de température lancée."


class SimulatedOximeter(SimulatedPeripheral):
    """A pulse oximeter (service 0x1822): continuous values at 1 Hz and spot-check results."""

    service_uuid = "1822"
    measurement_uuid = "2A5E"

    def __init__(
        self,
        air: EmulatedAir,
        *,
        name: str = "SIM-PLX",
        address: str = "F1:02:00:00:00:01",
        model: str = "SIM-PLX-1",
        **kwargs: Any,
    ) -> None:
        self.continuous = characteristic("2A5F", _NOTIFY)
        features = PlxFeatures(
            PlxSupportedFeatures(
                measurement_status_support=True,
                measurement_storage_for_spot_check=True,
                timestamp_for_spot_check=True,
            ),
            measurement_status_support=PlxMeasurementStatus(
                measurement_ongoing=True, data_from_measurement_storage=True
            ),
        )
        self.features = characteristic("2A60", _READ, bytes(features))
        super().__init__(air, name=name, address=address, model=model, **kwargs)
        self.spo2 = 97.0
        self.pulse = 72.0
        self._stream: asyncio.Task[None] | None = None
        self._stopper: asyncio.Task[None] | None = None

    def health_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.measurement, self.continuous, self.features]

    def start_streaming(self, spo2: float = 97.0, pulse: float = 72.0, period: float = 1.0) -> None:
        """Notify continuous measurements every `period` seconds (1 Hz by default)."""
        self.spo2, self.pulse = spo2, pulse
        if self._stream is None or self._stream.done():
            self._stream = asyncio.ensure_future(self._stream_loop(period))

    async def stop_streaming(self) -> None:
        """Stop the continuous notifications."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream

    async def stop(self) -> None:
        if self._stopper is not None:
            self._stopper.cancel()
        await self.stop_streaming()
        await super().stop()

    async def _stream_loop(self, period: float) -> None:
        while True:
            value = PlxContinuousMeasurement(
                Sfloat.from_float(self.spo2), Sfloat.from_float(self.pulse)
            )
            await self.notify(self.continuous, bytes(value))
            await self._sleep(period)

    def take_reading(self, rng: random.Random, seconds: float) -> str:
        """Stream plausible values for `seconds` (a finger in the clip); say so to the nurse."""
        self.start_streaming(rng.randint(94, 99), rng.randint(60, 95))

        async def stop_later() -> None:
            await self._sleep(seconds)
            await self.stop_streaming()

        if self._stopper is not None:
            self._stopper.cancel()
        self._stopper = asyncio.ensure_future(stop_later())
        return f"Oxymètre en place : mesure continue pendant {seconds:g} secondes."

    async def measure(self, spo2: float = 97.0, pulse: float = 72.0) -> int:
        """Store and indicate a spot-check measurement."""
        record = PlxSpotCheckMeasurement(
            Sfloat.from_float(spo2),
            Sfloat.from_float(pulse),
            timestamp=DateTime.from_datetime(self.device_time()),
            measurement_status=PlxMeasurementStatus(validated_data=True),
        )
        return await self.complete(bytes(record))

    def as_stored(self, record: bytes) -> bytes:
        spot = PlxSpotCheckMeasurement.parse(record)
        status = spot.measurement_status or PlxMeasurementStatus()
        flagged = PlxMeasurementStatus(
            **{name: getattr(status, name) for name in PlxMeasurementStatus.BITS if name}
            | {"data_from_measurement_storage": True}
        )
        return bytes(
            PlxSpotCheckMeasurement(
                spot.spo2,
                spot.pulse_rate,
                timestamp=spot.timestamp,
                measurement_status=flagged,
                device_and_sensor_status=spot.device_and_sensor_status,
                perfusion_index=spot.perfusion_index,
                device_clock_not_set=spot.device_clock_not_set,
            )
        )


class SimulatedWeightScale(SimulatedPeripheral):
    """A weight scale (service 0x181D): the patient steps on, the weight settles, a result."""

    service_uuid = "181D"
    measurement_uuid = "2A9D"

    def __init__(
        self,
        air: EmulatedAir,
        *,
        name: str = "SIM-SCALE",
        address: str = "F1:5C:00:00:00:01",
        model: str = "SIM-WS-1",
        **kwargs: Any,
    ) -> None:
        feature = WeightScaleFeature(time_stamp_supported=True, weight_resolution=7)
        self.feature = characteristic("2A9E", _READ, bytes(feature))
        super().__init__(air, name=name, address=address, model=model, **kwargs)

    def health_characteristics(self) -> list[gatt.Characteristic[bytes]]:
        return [self.measurement, self.feature]

    async def measure(self, kilograms: float = 72.4, *, settle_seconds: float = 0.0) -> int:
        """Let the weight settle, then store and indicate the weighing (kg, 0.005 kg steps)."""
        await self._sleep(settle_seconds)
        record = WeightMeasurement.of(
            kilograms, timestamp=DateTime.from_datetime(self.device_time())
        )
        return await self.complete(bytes(record))

    def take_reading(self, rng: random.Random, seconds: float) -> str:
        """Start a plausible weighing; say so to the nurse."""
        kilograms = round(rng.uniform(50.0, 100.0), 1)
        self._spawn(self._measured(self.measure(kilograms, settle_seconds=1.0)))
        return "Pesée lancée : le poids arrive dans quelques secondes."
