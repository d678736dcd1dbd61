from __future__ import annotations

import base64
import zlib

import pytest

from agora_runner.tokens import TokenError, mint_rtc_token, parse, verify_rtc_join

APP_ID = "970CA35de60c44645bbae8a215061b33"
CERT = "5CFd2fd1755d40ecb72977518be15d3b"
CHANNEL = "7d72365eb983485397e3e3f9d460bdda"
VECTOR_UID = "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj"  # noqa: E501
VECTOR_ANY = "007eJxTYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMADacImo="  # noqa: E501
AT = 1111111 + 10  # inside the vectors' 600 s lifetime


def test_published_vector_for_a_uid_is_accepted_for_that_uid_only() -> None:
    tok = verify_rtc_join(
        VECTOR_UID, app_id=APP_ID, app_certificate=CERT, channel=CHANNEL, uid=2882341273, now=AT
    )
    assert (tok.issue_ts, tok.expire, tok.salt) == (1111111, 600, 1)
    assert tok.rtc is not None and tok.rtc.privileges == {1: 600}
    with pytest.raises(TokenError, match="for uid 2882341273, not uid 1"):
        verify_rtc_join(
            VECTOR_UID, app_id=APP_ID, app_certificate=CERT, channel=CHANNEL, uid=1, now=AT
        )


def test_published_wildcard_vector_admits_any_uid() -> None:
    for uid in (1, 42, 2882341273):
        verify_rtc_join(
            VECTOR_ANY, app_id=APP_ID, app_certificate=CERT, channel=CHANNEL, uid=uid, now=AT
        )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"app_certificate": "0" * 32}, "signature is invalid"),
        ({"app_id": "0" * 32}, "another app id"),
        ({"channel": "other"}, "another channel"),
        ({"now": 1111111 + 601}, "expired"),
    ],
)
def test_vector_refused_with_the_reason(kwargs: dict, reason: str) -> None:
    args = {
        "app_id": APP_ID,
        "app_certificate": CERT,
        "channel": CHANNEL,
        "uid": 2882341273,
        "now": AT,
        **kwargs,
    }
    with pytest.raises(TokenError, match=reason):
        verify_rtc_join(VECTOR_UID, **args)


def test_tampered_token_is_refused() -> None:
    raw = bytearray(zlib.decompress(base64.b64decode(VECTOR_UID[3:])))
    raw[-5] ^= 0x01  # flip a bit inside the channel name
    tampered = "007" + base64.b64encode(zlib.compress(bytes(raw))).decode()
    with pytest.raises(TokenError, match="signature is invalid"):
        verify_rtc_join(
            tampered, app_id=APP_ID, app_certificate=CERT, channel=CHANNEL, uid=2882341273, now=AT
        )


@pytest.mark.parametrize(
    "token", ["", "006abc", "007not-base64!!", "007" + base64.b64encode(b"junk").decode()]
)
def test_malformed_tokens_are_refused_not_crashing(token: str) -> None:
    with pytest.raises(TokenError):
        parse(token)


def test_tokens_minted_by_agora_agents_are_accepted() -> None:
    token = mint_rtc_token(app_id=APP_ID, app_certificate=CERT, channel="room-1", uid=1)
    tok = verify_rtc_join(
        token, app_id=APP_ID, app_certificate=CERT, channel="room-1", uid=1, need_publish_audio=True
    )
    assert tok.rtc is not None and tok.rtc.uid == "1"
    with pytest.raises(TokenError, match="not uid 2"):
        verify_rtc_join(token, app_id=APP_ID, app_certificate=CERT, channel="room-1", uid=2)
    wildcard = mint_rtc_token(app_id=APP_ID, app_certificate=CERT, channel="room-1", uid=0)
    verify_rtc_join(wildcard, app_id=APP_ID, app_certificate=CERT, channel="room-1", uid=77)


def test_minted_token_expires() -> None:
    token = mint_rtc_token(
        app_id=APP_ID, app_certificate=CERT, channel="c", uid=1, expiry_seconds=60
    )
    issued = parse(token).issue_ts
    verify_rtc_join(token, app_id=APP_ID, app_certificate=CERT, channel="c", uid=1, now=issued + 59)
    with pytest.raises(TokenError, match="expired"):
        verify_rtc_join(
            token, app_id=APP_ID, app_certificate=CERT, channel="c", uid=1, now=issued + 61
        )
