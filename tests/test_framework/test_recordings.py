"""recordings/score/: a recording made anywhere, scored without a call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

CLIPS = Path(__file__).resolve().parents[1] / "evaluators" / "clips"
URL = "/test_framework/v1/recordings/score/"


def upload(data: bytes, name: str = "call.wav") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="audio/wav")


def test_a_recording_is_scored_with_the_callers_turns(client: APIClient, db: Any) -> None:
    truth = json.loads((CLIPS / "call.json").read_text())
    r = client.post(
        URL,
        {
            "recording": upload((CLIPS / "call.wav").read_bytes()),
            "caller_turns": json.dumps(truth["caller_turns"]),
        },
        format="multipart",
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["caller_turns"]["source"] == "given" and len(body["latency_turns"]) == 3
    latency = next(m for m in body["metrics"] if m["name"] == "Latency")
    assert latency["score"] is not None and set(latency["extra"]["turns"][0]) == {
        "caller_end_s",
        "agent_start_s",
        "latency_ms",
        "measurable",
        "reason",
    }
    outcome = body["metrics"][0]
    assert (
        outcome["name"] == "Expected Outcome" and outcome["score"] is None
    )  # no transcript, nothing quoted: not judged
    without = client.post(
        URL, {"recording": upload((CLIPS / "call.wav").read_bytes())}, format="multipart"
    ).json()
    assert without["caller_turns"]["source"] == "found on the caller's track"


def test_what_cannot_be_scored_is_a_400_naming_the_field(client: APIClient, db: Any) -> None:
    r = client.post(URL, {"recording": upload(b"RIFF not really")}, format="multipart")
    assert (
        r.status_code == 400
        and list(r.json()) == ["recording"]
        and r.json()["recording"][0].startswith("not an audio file that can be read")
    )
    r = client.post(
        URL,
        {"recording": upload((CLIPS / "call.wav").read_bytes()), "caller_turns": "[{"},
        format="multipart",
    )
    assert r.json() == {"caller_turns": ['Not valid JSON: give [{"start_s": …, "end_s": …}, …].']}
    r = client.post(
        URL,
        {
            "recording": upload((CLIPS / "call.wav").read_bytes()),
            "caller_turns": '[{"start_s": 3, "end_s": 2}]',
        },
        format="multipart",
    )
    assert r.status_code == 400 and "caller turn 0" in r.json()["caller_turns"][0]
    assert client.post(URL, {}, format="multipart").json() == {
        "recording": ["No file was submitted."]
    }
    assert APIClient().post(URL, {}, format="multipart").status_code == 401


def test_a_flac_recording_at_48_khz_is_scored_as_its_16_khz_wav(client: APIClient, db: Any) -> None:
    import io

    import soundfile
    import soxr

    turns = json.dumps(json.loads((CLIPS / "call.json").read_text())["caller_turns"])
    stereo, rate = soundfile.read(CLIPS / "call.wav", dtype="float32")
    flac = io.BytesIO()
    soundfile.write(flac, soxr.resample(stereo, rate, 48000), 48000, format="FLAC")
    results = [
        client.post(URL, {"recording": upload(data, name), "caller_turns": turns}, "multipart")
        for data, name in (
            ((CLIPS / "call.wav").read_bytes(), "call.wav"),
            (flac.getvalue(), "call.flac"),
        )
    ]
    assert [r.status_code for r in results] == [200, 200], results[1].json()
    wav, from_flac = (r.json() for r in results)
    assert from_flac["latency_turns"] == wav["latency_turns"] and len(wav["latency_turns"]) == 3
    assert from_flac["stops"] == wav["stops"]
