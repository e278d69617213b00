"""Send a workflow job's output (prints, tqdm bars, logging, tracebacks) to its rule log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def start_job_log(path: str | Path) -> None:
    """Redirect stdout/stderr to ``path`` (line-buffered) and log INFO there with timestamps."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
