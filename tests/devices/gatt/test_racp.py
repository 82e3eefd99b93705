"""Record Access Control Point requests and responses."""

from __future__ import annotations

import pytest

from devices.errors import FrameError
from devices.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    parse_racp,
)

Op = RacpOpCode
Operator = RacpOperator


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ("0101", RacpRequest(Op.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)),
        ("0105", RacpRequest(Op.REPORT_STORED_RECORDS, Operator.FIRST_RECORD)),
        ("0106", RacpRequest(Op.REPORT_STORED_RECORDS, Operator.LAST_RECORD)),
        ("0201", RacpRequest(Op.DELETE_STORED_RECORDS, Operator.ALL_RECORDS)),
        ("0300", RacpRequest.abort()),
        ("0401", RacpRequest(Op.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)),
        (
            "0103010a00",
            RacpRequest(Op.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO, minimum=10),
        ),
        (
            "0402011400",
            RacpRequest(
                Op.REPORT_NUMBER_OF_STORED_RECORDS, Operator.LESS_THAN_OR_EQUAL_TO, maximum=20
            ),
        ),
        (
            "0104010a001400",
            RacpRequest(Op.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE_OF, minimum=10, maximum=20),
        ),
        ("05000300", RacpNumberOfRecords(3)),
        ("0500ffff", RacpNumberOfRecords(65535)),
        ("06000101", RacpResponse(Op.REPORT_STORED_RECORDS, RacpResponseCode.SUCCESS)),
        ("06000106", RacpResponse(Op.REPORT_STORED_RECORDS, RacpResponseCode.NO_RECORDS_FOUND)),
        ("06000307", RacpResponse(Op.ABORT_OPERATION, RacpResponseCode.ABORT_UNSUCCESSFUL)),
        (
            "06000409",
            RacpResponse(
                Op.REPORT_NUMBER_OF_STORED_RECORDS, RacpResponseCode.OPERAND_NOT_SUPPORTED
            ),
        ),
    ],
)
def test_messages_both_ways(wire: str, message: object) -> None:
    assert parse_racp(bytes.fromhex(wire)) == message
    assert bytes(message) == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ("", "record access control point too short: op code needs 1 bytes at offset 0, 0 left"),
        ("07", "record access control point: unknown op code 0x07"),
        ("0107", "record access control point: unknown operator 0x07"),
        ("0102020500", "record access control point: unknown filter type 0x02"),
        ("0104011400 0a00", "record access control point: range 20..10 is empty"),
        ("0301", "record access control point: abort operation takes the null operator"),
        (
            "0100",
            "record access control point: REPORT_STORED_RECORDS needs an operator other than null",
        ),
        (
            "050103 00",
            "record access control point: NUMBER_OF_STORED_RECORDS_RESPONSE takes"
            " the null operator, got ALL_RECORDS",
        ),
        ("06000100", "record access control point: unknown response code value 0x00"),
        (
            "060001",
            "record access control point too short: response code value needs 1 bytes"
            " at offset 3, 0 left",
        ),
        (
            "010301",
            "record access control point too short: minimum needs 2 bytes at offset 3, 0 left",
        ),
    ],
)
def test_malformed_messages(wire: str, reason: str) -> None:
    with pytest.raises(FrameError) as error:
        parse_racp(bytes.fromhex(wire.replace(" ", "")))
    assert str(error.value) == reason


def test_request_parse_refuses_a_response() -> None:
    with pytest.raises(FrameError) as error:
        RacpRequest.parse(bytes.fromhex("05000300"))
    assert str(error.value) == "record access control point: op code 0x05 is not a request"


def test_request_operands_are_checked() -> None:
    with pytest.raises(ValueError, match="operator ALL_RECORDS takes no minimum"):
        RacpRequest(Op.REPORT_STORED_RECORDS, Operator.ALL_RECORDS, minimum=1)
    with pytest.raises(ValueError, match="operator WITHIN_RANGE_OF needs maximum"):
        RacpRequest(Op.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE_OF, minimum=1)
    with pytest.raises(ValueError, match="RESPONSE_CODE is not a request op code"):
        RacpRequest(Op.RESPONSE_CODE, Operator.NULL)
