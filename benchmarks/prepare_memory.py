"""Preparing a task from huge raw sections: peak memory versus the number of sections.

Why: the mouse liver's raw sections (EMPIAR-10791) are 8000 x 12000 pixels (92 MB each as
uint8), and each MouseLiver task cuts 360 of them. ``prepare.prepare_task`` reads one section at a time, so its peak
should be a few sections' worth however many sections the task has, while a loader that
stacks the region first (the naive baseline, measured in the same run) grows with them.
Sections are synthetic (no network here) but stored in the real section store (uncompressed
TIFFs, as ``download_dataset`` writes them) and prepared with the mouse-liver preprocessing
(area resize to 2000 x 3000, then CLAHE + blur; ``--crop 3500,3500 --resize 1000,1000`` gives
the rat liver's). Each case runs in a
fresh subprocess and reports its own peak RSS (VmHWM) and the peak after imports.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks._common import cpu_model, csv, ints, peak_rss_mb, run_child, table

CASES = ("one section", "stack the region", "prepare_task")


def _child(case: str, raw_dir: str, n: int, crop: Sequence[int] | None, resize: Sequence[int]) -> dict[str, float]:
    """One case in this (fresh) process: its time, RSS after imports and peak RSS."""
    from vemtransfer.config import Region, TaskSpec
    from vemtransfer.data.datasets.store import SectionStore
    from vemtransfer.data.prepare import prepare_task

    store = SectionStore(Path(raw_dir))
    imported = peak_rss_mb()
    t0 = time.perf_counter()
    if case == "one section":
        store.image("main", 0)
    elif case == "stack the region":
        stack = np.stack([store.image("main", z) for z in range(n)])
        assert stack.shape[0] == n
    else:
        n_train = max(1, 2 * n // 3)
        pp = {"resize_yx": list(resize), "resize": "before_clahe"} | ({"crop_yx": list(crop)} if crop else {})
        task = TaskSpec("Bench-M", "bench", "mito", Region(z=(0, n_train, 1)), Region(z=(n_train, n, 1)), "y", 0.15, preprocess=pp)
        with tempfile.TemporaryDirectory() as out:
            prepare_task(task, store, out, (1, 32, 32), (1, 32, 32), 0)
    return {"seconds": time.perf_counter() - t0, "imported_mb": imported, "peak_mb": peak_rss_mb()}


def _store(raw_dir: Path, n: int, shape: Sequence[int]) -> None:
    """``n`` synthetic image + label sections in the section store (noise on diagonal stripes)."""
    from vemtransfer.data.datasets.store import write_section

    rng = np.random.default_rng(0)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    stripes = ((yy.astype(np.uint16) + xx.astype(np.uint16)) % 192).astype(np.uint8)
    for z in range(n):
        image = rng.integers(0, 64, tuple(shape), dtype=np.uint8) + np.roll(stripes, 40 * z, axis=1)
        write_section(raw_dir, "main", "image", z, image)
        write_section(raw_dir, "main", "mito", z, (image > 180).astype(np.uint8))


def measure(case: str, raw_dir: Path, n: int, args: argparse.Namespace) -> dict[str, float]:
    """One case in a fresh interpreter."""
    child = [case, str(raw_dir), str(n), "--resize", csv(args.resize)] + (["--crop", csv(args.crop)] if args.crop else [])
    return run_child("benchmarks.prepare_memory", child, f"{case} with {n} sections")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--shape", type=ints, default=(8000, 12000), help="raw section y,x")
    p.add_argument("--sections", type=ints, default=(6, 12), help="region sizes to compare, e.g. 6,12")
    p.add_argument("--crop", type=ints, default=None, help="crop_yx of the task (none: the whole section)")
    p.add_argument("--resize", type=ints, default=(2000, 3000), help="resize_yx of the task")
    p.add_argument("--dir", type=Path, default=None, help="where to write the synthetic store (default: a temporary folder)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    p.add_argument("--child", nargs=3, metavar=("CASE", "RAW_DIR", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.shape, args.sections, args.resize = (400, 600), (3, 6), (100, 150)
    return args


def main(argv: Sequence[str] | None = None) -> list[list[object]]:
    args = parse(argv)
    if args.child:
        case, raw_dir, n = args.child
        print(json.dumps(_child(case, raw_dir, int(n), args.crop, args.resize)))
        return []
    section_mb = np.prod(args.shape) / 2**20
    rows: list[list[object]] = []
    peaks: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        raw_dir = Path(tmp)
        _store(raw_dir, max(args.sections), args.shape)
        for n in args.sections:
            for case in CASES if n == max(args.sections) else CASES[1:]:
                r = measure(case, raw_dir, n, args)
                peaks[case, n] = r["peak_mb"]
                rows.append([case, n, r["seconds"], r["imported_mb"], r["peak_mb"], (r["peak_mb"] - r["imported_mb"]) / section_mb])
    big, small = max(args.sections), min(args.sections)
    crop = f"crop {'x'.join(map(str, args.crop))} -> " if args.crop else ""
    print(f"# prepare memory on CPU ({cpu_model()}); raw sections {'x'.join(map(str, args.shape))} uint8 = {section_mb:.1f} MB each, "
          f"{crop}resize {'x'.join(map(str, args.resize))}")
    print(table(["case", "sections", "seconds", "RSS after imports MB", "peak RSS MB", "(peak - imports) / one section"], rows))
    print()
    growth = lambda case: (peaks[case, big] - peaks[case, small]) / (big - small)  # noqa: E731
    print(table(["derived from the rows above", "value"], [
        [f"prepare_task: peak RSS growth per added section (MB), {small} -> {big} sections", growth("prepare_task")],
        [f"stack the region: peak RSS growth per added section (MB), {small} -> {big} sections", growth("stack the region")],
        [f"{big} sections: prepare_task / stack the region peak RSS", peaks["prepare_task", big] / peaks["stack the region", big]],
    ]))
    return rows


if __name__ == "__main__":
    main()
