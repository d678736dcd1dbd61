"""Fuzzing (hypothesis) of the two parsers that read what outside servers send: the AccessToken2
verifier and the session-endpoint answer. Whatever arrives, they answer with their own error
(a readable reason), never with a crash."""

from __future__ import annotations

import base64
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agora_runner.errors import SessionEndpointError
from agora_runner.session import parse_join_details
from agora_runner.tokens import TokenError, parse, verify_rtc_join

APP_ID, CERT = "a" * 32, "b" * 32
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_token() -> str:
    from agora_runner.tokens import mint_rtc_token

    return mint_rtc_token(app_id=APP_ID, app_certificate=CERT, channel="room", uid=7)


def verify(token: str) -> None:
    verify_rtc_join(token, app_id=APP_ID, app_certificate=CERT, channel="room", uid=7)


@FUZZ
@given(st.text(max_size=400))
def test_any_text_is_a_token_or_a_token_error(text: str) -> None:
    for candidate in (text, "007" + text):
        try:
            parse(candidate)
        except TokenError:
            pass


@FUZZ
@given(st.binary(max_size=600))
def test_any_inflated_payload_is_a_token_or_a_token_error(payload: bytes) -> None:
    try:
        parse("007" + base64.b64encode(zlib.compress(payload)).decode())
    except TokenError:
        pass


@FUZZ
@given(st.data())
def test_an_altered_token_never_verifies(data: st.DataObject) -> None:
    token = valid_token()
    raw = bytearray(zlib.decompress(base64.b64decode(token[3:])))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    altered = "007" + base64.b64encode(zlib.compress(bytes(raw))).decode()
    try:
        verify(altered)
    except TokenError:
        return
    raise AssertionError(f"a token altered at byte {pos} verified")


def test_a_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = "007" + base64.b64encode(zlib.compress(b"\0" * 50_000_000, 9)).decode()
    try:
        parse(bomb)
    except TokenError as exc:
        assert "too large" in str(exc)
    else:
        raise AssertionError("a 50 MB token was accepted")
    verify(valid_token())  # and a real one still verifies


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6)
    ),
    max_leaves=20,
)
answer_fields = st.fixed_dictionaries(
    {},
    optional={
        "agora_app_id": json_values | st.just(APP_ID),
        "agora_channel": json_values | st.just("room"),
        "agora_token": json_values | st.just("007abc"),
        "agora_uid": json_values,
        "uid": json_values,
        "encryption_mode": json_values
        | st.sampled_from(["aes_128_gcm2", "AES_256_GCM2", "none", "7", 8]),
        "encryption_key": json_values,
        "encryption_salt": json_values | st.just(base64.b64encode(b"s" * 32).decode()),
    },
)


@FUZZ
@given(st.one_of(json_values, answer_fields))
def test_any_session_answer_is_join_details_or_a_readable_error(body: object) -> None:
    try:
        details = parse_join_details(body, join_uid=1)
    except SessionEndpointError as exc:
        assert str(exc) and len(str(exc)) < 2000
    else:
        assert details.app_id and details.channel and details.token
