"""Record Access Control Point (0x2A52): asking a device for its stored records.

Every message is ``op code (uint8), operator (uint8), operand``. The client writes requests
(report / delete / abort / report number of stored records); the server indicates either the
number of stored records (op code 5, operand uint16) or a response code (op code 6, operand =
request op code, response code value). Filtered requests carry a filter type (0x01 =
sequence number) and one (≤, ≥) or two (within range) uint16 sequence numbers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Self, TypeVar

from devices.errors import FrameError
from devices.gatt._codec import Reader

__all__ = [
    "RacpFilterType",
    "RacpMessage",
    "RacpNumberOfRecords",
    "RacpOpCode",
    "RacpOperator",
    "RacpRequest",
    "RacpResponse",
    "RacpResponseCode",
    "parse_racp",
]


class RacpOpCode(enum.IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class RacpOperator(enum.IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL_TO = 0x02
    GREATER_THAN_OR_EQUAL_TO = 0x03
    WITHIN_RANGE_OF = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class RacpFilterType(enum.IntEnum):
    SEQUENCE_NUMBER = 0x01


class RacpResponseCode(enum.IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


_REQUEST_OP_CODES = frozenset(
    {
        RacpOpCode.REPORT_STORED_RECORDS,
        RacpOpCode.DELETE_STORED_RECORDS,
        RacpOpCode.ABORT_OPERATION,
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
_UNFILTERED = frozenset(
    {RacpOperator.ALL_RECORDS, RacpOperator.FIRST_RECORD, RacpOperator.LAST_RECORD}
)
_NAME = "record access control point"
_E = TypeVar("_E", bound=enum.IntEnum)


def _enum(kind: type[_E], raw: int, what: str) -> _E:
    try:
        return kind(raw)
    except ValueError:
        raise FrameError(f"{_NAME}: unknown {what} 0x{raw:02x}") from None


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request written by the client.

    `minimum` is the operand of ≥, `maximum` of ≤, both of "within range" (inclusive);
    both stay None for all / first / last records and for abort.
    """

    op_code: RacpOpCode
    operator: RacpOperator = RacpOperator.ALL_RECORDS
    minimum: int | None = None
    maximum: int | None = None
    filter_type: RacpFilterType = RacpFilterType.SEQUENCE_NUMBER

    def __post_init__(self) -> None:
        if self.op_code not in _REQUEST_OP_CODES:
            raise ValueError(f"{self.op_code.name} is not a request op code")
        if self.op_code is RacpOpCode.ABORT_OPERATION:
            if self.operator is not RacpOperator.NULL:
                raise ValueError("abort operation takes the null operator")
        elif self.operator is RacpOperator.NULL:
            raise ValueError(f"{self.op_code.name} needs an operator other than null")
        wants_min = self.operator in (
            RacpOperator.GREATER_THAN_OR_EQUAL_TO,
            RacpOperator.WITHIN_RANGE_OF,
        )
        wants_max = self.operator in (
            RacpOperator.LESS_THAN_OR_EQUAL_TO,
            RacpOperator.WITHIN_RANGE_OF,
        )
        for name, value, wanted in (
            ("minimum", self.minimum, wants_min),
            ("maximum", self.maximum, wants_max),
        ):
            if (value is not None) != wanted:
                need = "needs" if wanted else "takes no"
                raise ValueError(f"operator {self.operator.name} {need} {name}")
            if value is not None and not 0 <= value <= 0xFFFF:
                raise ValueError(f"{name} {value} out of range 0..65535")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"range {self.minimum}..{self.maximum} is empty")

    @classmethod
    def abort(cls) -> Self:
        """Return the abort-operation request."""
        return cls(RacpOpCode.ABORT_OPERATION, RacpOperator.NULL)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Decode a request; FrameError on unknown codes or a wrong operand."""
        message = parse_racp(data)
        if not isinstance(message, cls):
            raise FrameError(f"{_NAME}: op code 0x{data[0]:02x} is not a request")
        return message

    def __bytes__(self) -> bytes:
        out = bytearray((self.op_code, self.operator))
        operands = [v for v in (self.minimum, self.maximum) if v is not None]
        if operands:
            out.append(self.filter_type)
            for value in operands:
                out += value.to_bytes(2, "little")
        return bytes(out)


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    """Number of Stored Records Response (op code 5)."""

    OP_CODE: ClassVar[RacpOpCode] = RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE

    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.count <= 0xFFFF:
            raise ValueError(f"count {self.count} out of range 0..65535")

    def __bytes__(self) -> bytes:
        return bytes((self.OP_CODE, RacpOperator.NULL)) + self.count.to_bytes(2, "little")


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """Response Code (op code 6): the outcome of one request."""

    OP_CODE: ClassVar[RacpOpCode] = RacpOpCode.RESPONSE_CODE

    request_op_code: RacpOpCode
    response_code: RacpResponseCode

    def __bytes__(self) -> bytes:
        return bytes((self.OP_CODE, RacpOperator.NULL, self.request_op_code, self.response_code))


RacpMessage = RacpRequest | RacpNumberOfRecords | RacpResponse


def _parse_request(op_code: RacpOpCode, operator: RacpOperator, reader: Reader) -> RacpRequest:
    if operator in _UNFILTERED or operator is RacpOperator.NULL:
        minimum = maximum = None
    else:
        filter_type = _enum(RacpFilterType, reader.u8("filter type"), "filter type")
        if operator is RacpOperator.LESS_THAN_OR_EQUAL_TO:
            minimum, maximum = None, reader.u16("maximum")
        elif operator is RacpOperator.GREATER_THAN_OR_EQUAL_TO:
            minimum, maximum = reader.u16("minimum"), None
        else:
            minimum, maximum = reader.u16("minimum"), reader.u16("maximum")
        try:
            return RacpRequest(op_code, operator, minimum, maximum, filter_type)
        except ValueError as error:
            raise FrameError(f"{_NAME}: {error}") from None
    try:
        return RacpRequest(op_code, operator, minimum, maximum)
    except ValueError as error:
        raise FrameError(f"{_NAME}: {error}") from None


def parse_racp(data: bytes) -> RacpMessage:
    """Decode any RACP message (request or response); FrameError when malformed."""
    reader = Reader(data, _NAME)
    op_code = _enum(RacpOpCode, reader.u8("op code"), "op code")
    operator = _enum(RacpOperator, reader.u8("operator"), "operator")
    if op_code in _REQUEST_OP_CODES:
        return _parse_request(op_code, operator, reader)
    if operator is not RacpOperator.NULL:
        raise FrameError(f"{_NAME}: {op_code.name} takes the null operator, got {operator.name}")
    if op_code is RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        return RacpNumberOfRecords(reader.u16("number of records"))
    request = _enum(RacpOpCode, reader.u8("request op code"), "request op code")
    code = _enum(RacpResponseCode, reader.u8("response code value"), "response code value")
    return RacpResponse(request, code)
