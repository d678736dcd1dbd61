"""What the broker holds: the depth of a queue (for the reaper and the metrics)."""

from __future__ import annotations

import logging

from celery import current_app
from kombu.exceptions import ChannelError

log = logging.getLogger(__name__)


def queue_depth(name: str) -> int | None:
    """Messages waiting in queue `name` (not those a worker has taken), or None if the broker
    could not be asked."""
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                return int(
                    conn.default_channel.queue_declare(queue=name, passive=True).message_count
                )
            except ChannelError:
                return 0  # never declared: nothing was ever sent to it
    except Exception as exc:  # kombu and redis raise many kinds; all mean "could not ask"
        log.warning("queue depth of %s unknown (%s)", name, exc.__class__.__name__)
        return None
