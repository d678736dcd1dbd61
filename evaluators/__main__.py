"""`python -m evaluators score --recording CALL.wav [--caller-turns TURNS.json] [--json]`:
score a stereo recording (caller left, agent right; WAV, FLAC, Ogg or MP3, 8-192 kHz) with the
predefined catalogue."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .score import read_recording, score_recording


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evaluators", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score a recording")
    score.add_argument(
        "--recording",
        required=True,
        help="stereo WAV, FLAC, Ogg or MP3 (8-192 kHz): caller left, agent right",
    )
    score.add_argument(
        "--caller-turns",
        help='JSON file: [{"start_s": …, "end_s": …}, …], the caller\'s authored speech; '
        "without it the caller's lines are found on the left track (pass it for a noisy "
        "caller: a line whose background stands within 40 dB of it has no latency)",
    )
    score.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = ap.parse_args(argv)
    try:
        recording = read_recording(Path(args.recording).read_bytes())
        turns = json.loads(Path(args.caller_turns).read_text()) if args.caller_turns else None
        result = score_recording(recording, turns)
    except (OSError, ValueError) as exc:  # RecordingError, a bad JSON file, a missing file
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(
        f"{result['duration_s']:.1f} s, caller turns {result['caller_turns']['source']}: "
        f"{len(result['caller_turns']['turns'])}"
    )
    for t in result["latency_turns"]:
        shown = (
            f"{t['latency_ms']:.0f} ms"
            if t["latency_ms"] is not None
            else ("not measurable: " + t["reason"] if not t["measurable"] else t["reason"] or "-")
        )
        print(f"  caller ended {t['caller_end_s']:8.3f} s → {shown}")
    for m in result["metrics"]:
        value = m.get("score", m.get("passed", m.get("enum")))
        print(f"{m['name']:<42} {value!s:<10} {(m['explanation'] or [''])[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
