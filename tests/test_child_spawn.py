"""BotMaker's child processes die with BotMaker, not with the thread that started them.

PR_SET_PDEATHSIG is tied to the thread that forked the child: a keyring started from a
worker thread (the lifespan runs ``ensure`` in anyio's pool, whose idle threads end after
10 s) was sent SIGTERM when that thread ended, exited 0 and was started again later.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from botmaker.config import Settings
from tests.support.fixtures import MakeServices


def test_a_keyring_started_from_a_thread_outlives_the_thread(
    settings: Settings, make_services: MakeServices
) -> None:
    svc = make_services(replace(settings, keyring="auto", keyring_port=0, keyring_admin_port=0))
    starter = threading.Thread(target=svc.keyring.ensure)
    starter.start()
    starter.join(timeout=60)
    assert not starter.is_alive()
    first = svc.keyring.status()
    assert first.get("ok", True) is not False, first
    time.sleep(1.5)  # a SIGTERM on the thread's end would have stopped it by now
    after = svc.keyring.status()
    assert after.get("ok", True) is not False, after  # still answering
    # Not started again either (its ports are picked anew on each start).
    assert svc.keyring.data_plane_url() == first["proxy_url"]
