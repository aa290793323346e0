from __future__ import annotations

import json

import pytest

from typemux.wire import codec


def test_explicit_null_and_unknown_keys_survive_a_round_trip() -> None:
    body = b'{"jsonrpc":"2.0","id":1,"result":null,"x-unknown":{"deep":[null]}}'
    msg = codec.loads(body)
    assert msg == {"jsonrpc": "2.0", "id": 1, "result": None, "x-unknown": {"deep": [None]}}
    assert codec.dumps(msg) == body


def test_unicode_is_kept_as_utf8() -> None:
    msg = {"text": "héllo ✓ 🐍"}
    body = codec.dumps(msg)
    assert "héllo ✓ 🐍".encode() in body
    assert codec.loads(body) == msg


def test_big_int_falls_back_to_stdlib() -> None:
    big = 2**70
    body = b'{"id":%d,"ok":null}' % big
    msg = codec.loads(body)
    assert msg == {"id": big, "ok": None}
    assert codec.dumps(msg) == body


def test_lone_surrogate_escape_round_trips() -> None:
    body = b'{"s":"\\ud800"}'
    msg = codec.loads(body)
    assert msg == {"s": "\ud800"}
    assert json.loads(codec.dumps(msg)) == msg


def test_invalid_utf8_is_replaced_as_the_backends_do() -> None:
    assert codec.loads(b'{"a":"caf\xe9 \xff!"}') == {"a": "caf\ufffd \ufffd!"}


def test_decode_returns_the_body_repaired_only_when_it_was_invalid() -> None:
    valid = '{"a":"café"}'.encode()
    value, body = codec.decode(valid)
    assert value == {"a": "café"} and body is valid
    value, body = codec.decode(b'{"a":"\xff","n":12345678901234567890123}')
    assert value == {"a": "\ufffd", "n": 12345678901234567890123}
    assert body == '{"a":"\ufffd","n":12345678901234567890123}'.encode()
    body.decode("utf-8")  # forwarded bytes are valid UTF-8


def test_invalid_utf8_in_invalid_json_is_still_a_decode_error() -> None:
    with pytest.raises(codec.DecodeError, match="invalid JSON"):
        codec.loads(b'{"a":"\xff"')


def test_invalid_json_is_a_decode_error_with_position() -> None:
    with pytest.raises(codec.DecodeError, match="invalid JSON at pos 5"):
        codec.loads(b'{"a":}')


def test_huge_integer_literal_is_a_decode_error() -> None:
    with pytest.raises(codec.DecodeError):
        codec.loads(b"1" * 5000)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(codec.DecodeError, ValueError)


def test_long_digit_runs_inside_strings_decode_unchanged() -> None:
    body = b'{"s":"12345678901234567890123","n":-92233720368547758090}'
    assert codec.loads(body) == {"s": "12345678901234567890123", "n": -92233720368547758090}


def test_sixty_four_bit_integers_stay_exact() -> None:
    body = b'{"a":18446744073709551615,"b":-9223372036854775808}'
    msg = codec.loads(body)
    assert msg == {"a": 2**64 - 1, "b": -(2**63)}
    assert codec.dumps(msg) == body


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_json_nested_beyond_the_recursion_limit_is_a_decode_error(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    with pytest.raises(codec.DecodeError, match="nested too deeply"):
        codec.decode(body)
