"""The demo: a small voice agent (a clinic receptionist) and its session endpoint."""
