"""Demo-only identities of the local stack. They name no real Agora app; override by env."""

from __future__ import annotations

import os

DEMO_APP_ID = os.environ.get("CEKURA_DEMO_APP_ID", "decafbaddecafbaddecafbaddecafbad")
DEMO_APP_CERTIFICATE = os.environ.get(
    "CEKURA_DEMO_APP_CERTIFICATE", "c0ffee00c0ffee00c0ffee00c0ffee00"
)
DEMO_CLIENT_ID = os.environ.get("CEKURA_DEMO_CLIENT_ID", "demo-client")
DEMO_SECRET = os.environ.get("CEKURA_DEMO_SECRET", "demo-secret-change-me")
DEMO_AGENT_UID = 1000
DEMO_CHANNEL_PORT = 7788
DEMO_ENDPOINT_PORT = 8765
