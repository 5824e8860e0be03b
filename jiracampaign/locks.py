"""The one lock that keeps writers apart on this machine: ``sync``, ``submit`` and ``record`` take it,
so a run added to a campaign's ledger is never lost to a concurrent sync (`filelock` does the locking)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from .errors import JiraCampaignError

__all__ = ["hold", "exclusive", "lock_path"]

log = logging.getLogger(__name__)


def lock_path(data_dir: Path) -> Path:
    """Where the lock lives: ``<data dir>/sync.lock``."""
    return Path(data_dir) / "sync.lock"


@contextlib.contextmanager
def hold(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Hold the lock at ``path``; yields `False` if another process still holds it after ``wait`` seconds."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=wait)
    try:
        lock.acquire(poll_interval=0.2)
    except Timeout:
        log.info("lock %s is held by another process", path)
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def exclusive(path: Path, wait: float) -> Iterator[None]:
    """Hold the lock, waiting up to ``wait`` seconds for a sync to finish, else a clear error."""
    with hold(path, wait) as got:
        if not got:
            raise JiraCampaignError(f"a sync has held {path} for {wait / 60:g} minutes; try again when it is done")
        yield
