"""Seeds derived from a job's identity, so any job reruns alone with the same randomness."""

from __future__ import annotations

import hashlib


def job_seed(base: int, *parts: object) -> int:
    """A stable 31-bit seed from the base seed and a job's identity (task, budget, repeat)."""
    digest = hashlib.sha256(repr((base, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
