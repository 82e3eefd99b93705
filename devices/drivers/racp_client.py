"""The client side of a Record Access Control Point procedure: one request, one answer.

The driver writes a request, the server indicates the records on the measurement
characteristic, then indicates one answer on the RACP: a response code, or the number of
stored records. `RacpClient` builds the requests and resolves the pending answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from devices.errors import DeviceError
from devices.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    parse_racp,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RacpOutcome:
    """The answer to a RACP request: a response code, or a record count."""

    response_code: RacpResponseCode | None = None
    count: int | None = None


class RacpClient:
    """Builds RACP requests and matches the server's answer to the pending one."""

    def __init__(self) -> None:
        self._pending: asyncio.Future[RacpOutcome] | None = None

    @staticmethod
    def count_all() -> bytes:
        """Return the request for the number of all stored records."""
        return bytes(RacpRequest(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS))

    @staticmethod
    def report_from(first_sequence: int) -> bytes:
        """Return the request for the stored records with sequence number >= `first_sequence`."""
        return bytes(
            RacpRequest(
                RacpOpCode.REPORT_STORED_RECORDS,
                RacpOperator.GREATER_THAN_OR_EQUAL_TO,
                minimum=min(first_sequence, 0xFFFF),
            )
        )

    def expect(self) -> asyncio.Future[RacpOutcome]:
        """Return the future resolved by the next answer (one procedure at a time)."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().create_future()
        return self._pending

    def on_indication(self, data: bytes) -> None:
        """Resolve the pending request with an answer indicated by the server."""
        try:
            message = parse_racp(data)
        except DeviceError as error:
            logger.info("undecodable RACP answer: %s", error)
            return
        if isinstance(message, RacpNumberOfRecords):
            outcome = RacpOutcome(count=message.count)
        elif isinstance(message, RacpResponse):
            outcome = RacpOutcome(response_code=message.response_code)
        else:
            logger.info("RACP server sent a request op code: %s", message.op_code.name)
            return
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(outcome)
