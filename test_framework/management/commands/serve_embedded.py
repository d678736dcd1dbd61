from __future__ import annotations

import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cekura.embedded import EmbeddedStack
from test_framework.management.embedded import prepare_database


class Command(BaseCommand):
    help = "Run the embedded default: web server, worker, local channel, demo agent and endpoint."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        # SIGTERM (a service manager, `kill`) stops the children as Ctrl-C does, instead of
        # leaving them running.
        signal.signal(signal.SIGTERM, _interrupt)
        prepare_database()
        stack = EmbeddedStack(
            env={"CEKURA_WEB_PORT": str(options["port"])},
            worker_concurrency=options["workers"],
            log_dir=settings.VAR_DIR / "logs",
        )
        with stack:
            self.stdout.write(
                f"Dashboard:         {stack.web_url}/  (users: manage.py create_user NAME "
                "--organization ORG)"
            )
            self.stdout.write(f"API:               {stack.web_url}/test_framework/v1/")
            self.stdout.write(f"API docs:          {stack.web_url}/api/docs/")
            self.stdout.write(f"Admin:             {stack.web_url}/admin/")
            self.stdout.write(f"Demo endpoint:     {stack.endpoint_url}")
            self.stdout.write(f"Local channel:     {stack.channel_address}")
            self.stdout.write(f"Logs:              {settings.VAR_DIR / 'logs'}")
            self.stdout.write("Press Ctrl-C to stop.")
            try:
                while stack.alive():
                    time.sleep(1)
            except KeyboardInterrupt:
                return
        raise CommandError(
            f"{stack.gave_up} kept crashing; the stack stopped (see {settings.VAR_DIR / 'logs'})"
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
