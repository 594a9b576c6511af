"""Bot images: present locally, or pulled once with progress anyone can read."""

from __future__ import annotations

import threading
from typing import Any

from botmaker.runtime.base import Backend, PullProgress


class ImageService:
    def __init__(self, runtime: Backend) -> None:
        self.runtime = runtime
        self._lock = threading.Lock()
        self._pull_locks: dict[str, threading.Lock] = {}
        self._progress: dict[str, PullProgress] = {}

    def progress(self, image: str) -> PullProgress | None:
        return self._progress.get(image)

    def status(self, image: str) -> dict[str, Any]:
        progress = self._progress.get(image)
        return {
            "image": image,
            "present": self.runtime.image_present(image),
            "pull": progress.to_dict() if progress else None,
        }

    def ensure(self, image: str) -> None:
        """Return once ``image`` is present, pulling it (once, however many ask) if not."""
        if self.runtime.image_present(image):
            return
        with self._lock:
            lock = self._pull_locks.setdefault(image, threading.Lock())
        with lock:
            if self.runtime.image_present(image):
                return
            progress = PullProgress(image=image, status="pulling")
            self._progress[image] = progress

            def record(event: dict[str, Any]) -> None:
                progress.message = str(event.get("status", ""))
                layer = event.get("id")
                detail = event.get("progressDetail") or {}
                if layer and detail:
                    progress.layers[str(layer)] = {
                        "current": detail.get("current", 0),
                        "total": detail.get("total", 0),
                    }

            try:
                self.runtime.pull(image, record)
            except Exception as exc:
                progress.status = "failed"
                progress.error = str(exc)
                raise
            progress.status = "done"

    def start_pull(self, image: str) -> PullProgress:
        """Pull in the background; read progress with :meth:`progress`."""
        existing = self._progress.get(image)
        if existing and existing.status == "pulling":
            return existing
        self._progress[image] = PullProgress(image=image, status="pending")

        def run() -> None:
            try:
                self.ensure(image)
            except Exception:  # noqa: BLE001, S110 - recorded in the progress object
                pass
            else:
                current = self._progress.get(image)
                if current is not None and current.status == "pending":
                    current.status = "done"  # it was already present

        threading.Thread(target=run, name=f"pull {image}", daemon=True).start()
        return self._progress[image]
