"""Record one real call with the demo agent and keep its outcome for the tests: the stereo
recording and everything else the runner returned (timeline, caller lines, how it ended).

The service and task tests replay this outcome through the pipeline instead of holding a
real-time call of their own (tests/test_framework/recorded.py). Run it again when what a call
returns changes:

    .venv/bin/python bench/record_call.py tests/test_framework/recorded
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agora_runner.demo.defaults import DEMO_APP_ID, DEMO_CLIENT_ID, DEMO_SECRET  # noqa: E402
from agora_runner.demo.stack import ThreadedDemoStack  # noqa: E402
from agora_runner.runner import execute_call  # noqa: E402
from agora_runner.speech import get_asr, get_tts  # noqa: E402
from agora_runner.types import CallerScript, CallSpec, SessionEndpointConfig  # noqa: E402
from common.wav import stereo_wav  # noqa: E402

LINES = ["Hello, when are you open?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for call.wav and call.json")
    args = parser.parse_args()
    tts, asr = get_tts(), get_asr()
    stack = ThreadedDemoStack(tts, asr).start()
    try:
        spec = CallSpec(
            endpoint=SessionEndpointConfig(
                url=stack.stack.endpoint_url, client_id=DEMO_CLIENT_ID, secret=DEMO_SECRET
            ),
            join_uid=1,
            caller=CallerScript.scripted(LINES),
            local_channel_address=stack.stack.channel_address,
            local_channel_app_ids=(DEMO_APP_ID,),
            max_duration_seconds=60,
        )
        outcome = execute_call(spec, tts=tts)
    finally:
        stack.stop()
    assert outcome.recording is not None, outcome.error
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "call.wav").write_bytes(
        stereo_wav(outcome.recording.caller, outcome.recording.agent)
    )
    kept = asdict(outcome)
    del kept["recording"]
    (args.out / "call.json").write_text(json.dumps(kept, indent=1) + "\n")
    print(
        f"{outcome.ended_reason}: {outcome.recording.duration_seconds:.1f} s, "
        f"{len(outcome.caller_utterances)} caller lines, {len(outcome.timeline)} events "
        f"-> {args.out}"
    )


if __name__ == "__main__":
    main()
