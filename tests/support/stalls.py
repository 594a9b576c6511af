"""What every thread of this process was doing when a browser test ran long.

A browser test drives a BotMaker served by a thread of this same process (the app's
event loop, its worker threads, its background loops). When such a test fails after
waiting on the page, the stacks of those threads at the moment it had waited
:data:`AFTER` seconds say where the server was (a lock, an engine call, a blocked
event loop); they are added to the failure's report. A thread that holds the GIL in C
code would stop a Python timer too: faulthandler's own thread writes the same dump to
``.ci/work/stalls`` whatever the GIL does.
"""

from __future__ import annotations

import contextlib
import faulthandler
import sys
import threading
import traceback
from pathlib import Path
from typing import IO

#: Seconds a test runs before its threads' stacks are taken.
AFTER = 40.0
#: Frames kept per thread (the innermost).
FRAMES = 12
FOLDER = Path(__file__).resolve().parents[2] / ".ci" / "work" / "stalls"


class StallRecorder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stacks = ""
        self._timer = threading.Timer(AFTER, self._take)
        self._timer.daemon = True
        self._file: IO[str] | None = None

    def __enter__(self) -> StallRecorder:
        FOLDER.mkdir(parents=True, exist_ok=True)
        self._file = (FOLDER / f"{self.name}.txt").open("w")
        faulthandler.dump_traceback_later(AFTER + 1, file=self._file)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        faulthandler.cancel_dump_traceback_later()
        if self._file is not None:
            self._file.close()
            path = Path(self._file.name)
            with contextlib.suppress(FileNotFoundError):  # the folder was cleaned meanwhile
                if path.stat().st_size == 0:
                    path.unlink()

    def _take(self) -> None:
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        parts = []
        for ident, frame in sys._current_frames().items():
            if ident == threading.get_ident():
                continue
            stack = traceback.format_stack(frame)[-FRAMES:]
            parts.append(f"--- thread {names.get(ident, ident)}\n{''.join(stack)}")
        self.stacks = f"after {AFTER:.0f} s:\n" + "\n".join(parts)
