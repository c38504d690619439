"""PostgreSQL's push side of the change feed: a thread that LISTENs and wakes the sync when any replica commits.

NOTIFY is best effort across a dropped connection: what is sent while this listener is disconnected is lost. The
sync's periodic poll covers that gap, and this listener wakes the sync right after it reconnects as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "stackyard"
RETRY_AFTER = 1.0  # seconds between two attempts to reconnect
CHECK_STOP_EVERY = 1.0  # seconds a wait for notifications lasts before the stop flag is checked again


def listen(conninfo: str, schema: str, wake: Callable[[], None]) -> Callable[[], None]:
    """Start listening in a daemon thread; call the answer to stop it.

    `wake()` runs in that thread for every change committed in `schema` (other schemas of the same database have
    their own deployments) and after each reconnect.
    """
    stop = threading.Event()
    thread = threading.Thread(target=_run, args=(conninfo, schema, wake, stop), name="stackyard-listen", daemon=True)
    thread.start()

    def stop_listening() -> None:
        stop.set()
        thread.join(timeout=CHECK_STOP_EVERY + 5)

    return stop_listening


def _run(conninfo: str, schema: str, wake: Callable[[], None], stop: threading.Event) -> None:
    connected_before = False
    connected = False
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                if connected_before:
                    log.info("listening to store changes again")
                    wake()  # catch up with what was committed while we were away
                connected_before = connected = True
                while not stop.is_set():
                    for notify in conn.notifies(timeout=CHECK_STOP_EVERY):
                        if notify.payload.rpartition(" ")[0] == schema:
                            wake()
        except psycopg.Error as error:
            if connected:
                log.warning("store change listener disconnected; polling covers the gap", extra={"error": str(error)})
                # The sync looks at once rather than at its next tick: if the store is gone, this replica reports
                # itself not ready now, well before its silence drops it from the replicas listed.
                wake()
            connected = False
            stop.wait(RETRY_AFTER)
