"""Training throughput: the authors' plain fp32 loop versus our ``train_model``.

Why: the paper's grid is hundreds of training runs, so patches/s decides what the
reproduction costs. Both variants train the same RSUNet (same widths, init seed, patch,
batch, learning rate, DiceCE loss) on the *same batches in the same order*: the reference
loop reads them from pre-cut, pre-augmented patch tensors through a default
``torch.utils.data.DataLoader`` (which flatters the reference: its augmentation is free),
calls ``loss.item()`` every step and never uses AMP, fused Adam, pinned memory or workers.
Ours is the real trainer (``vemtransfer.training.train.train_model``) reading a memory-mapped
``.npy`` volume, so the same final loss shows both optimise the same thing.

Timing covers the steps after ``--warmup`` up to the second-to-last one: ``train_model``
always validates at its last step, which is not training throughput.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import vemtransfer.training.train as vt
from benchmarks._common import ints, machine, sync, table
from vemtransfer.config import EvalConfig, ModelConfig, TrainConfig
from vemtransfer.data.patches import PatchBatches, tile_origins
from vemtransfer.data.splits import Volume
from vemtransfer.data.synthetic import generate_tissue
from vemtransfer.model.loss import DiceCELoss
from vemtransfer.model.network import PAPER_BN_MOMENTUM, PAPER_WIDTHS, RSUNet

SEED = 11


@dataclass
class Result:
    name: str
    patches_per_s: float | None
    final_loss: float | None
    note: str = ""


def make_data(tmp: Path, patch: tuple[int, int, int]) -> tuple[Volume, Volume, list[tuple[int, ...]]]:
    """Synthetic kidney mitochondria (2 x 3 x 3 patches) written as .npy and memory-mapped,
    exactly how ``prepare`` hands splits to the trainer."""
    shape = (2 * patch[0], 3 * patch[1], 3 * patch[2])
    image, masks = generate_tissue("kidney", shape, seed=1)
    np.save(tmp / "image.npy", image)
    np.save(tmp / "label.npy", masks["mito"].astype(np.uint8))
    train = Volume(np.load(tmp / "image.npy", mmap_mode="r"), np.load(tmp / "label.npy", mmap_mode="r"))
    window = tuple(slice(0, p) for p in patch)
    val = Volume(np.asarray(train.image[window]), np.asarray(train.label[window]))  # one window: cheap final validation
    origins = tile_origins(shape, patch, tuple(max(1, p // 2) for p in patch))
    return train, val, origins


def train_config(batch: int, total_steps: int, workers: int) -> TrainConfig:
    """The schema's defaults, except length, workers and no validation/checkpoints mid-run."""
    return TrainConfig(
        lr=0.002, batch_size=batch, pos_weight=5.0, dice_smooth=1.0, epochs=10**6, max_steps=total_steps,
        val_every=10**9, checkpoint_every=10**9, patience=None, amp=True, num_workers=workers, log_every=20,
        p_intensity=0.75, contrast=(0.5, 1.5), brightness=(-0.5, 0.5),
    )


class _PrecutPatches(torch.utils.data.Dataset):
    """The authors' style: a map-style dataset of ready patch tensors, one item per patch.

    ``batches`` lists each step's item indices, so a DataLoader using it as its
    ``batch_sampler`` replays ``PatchBatches`` exactly, short last batch of an epoch included."""

    def __init__(self, data: PatchBatches, steps: int) -> None:
        self.items = [(x[j], y[j]) for x, y in (data[s] for s in range(steps)) for j in range(len(x))]
        ends = np.cumsum([len(data.batch_indices(s)) for s in range(steps)])
        self.batches = [list(range(e - len(data.batch_indices(s)), e)) for s, e in enumerate(ends)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[i]


def run_reference(data: PatchBatches, widths: Sequence[int], cfg: TrainConfig, warmup: int, device: torch.device) -> Result:
    """Plain fp32 loop: default DataLoader, ``optim.Adam``, ``loss.item()`` every step."""
    torch.backends.cudnn.benchmark = False
    total = len(data)
    patches = _PrecutPatches(data, total)
    loader = torch.utils.data.DataLoader(patches, batch_sampler=patches.batches)
    torch.manual_seed(SEED)
    model = RSUNet(widths, PAPER_BN_MOMENTUM).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = DiceCELoss(cfg.pos_weight, cfg.dice_smooth).to(device)
    t0 = t1 = 0.0
    for step, (x, y) in enumerate(loader, start=1):
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = loss.item()
        if step == warmup:
            sync(device)
            t0 = time.perf_counter()
        if step == total - 1:
            sync(device)
            t1 = time.perf_counter()
    return Result("reference (authors' fp32 loop)", timed_patches(data, warmup) / (t1 - t0), value)


def timed_patches(data: PatchBatches, warmup: int) -> int:
    """Patches in the timed steps (``warmup`` + 1 .. total - 1, counted from 1)."""
    return sum(len(data.batch_indices(s)) for s in range(warmup, len(data) - 1))


def run_ours(name: str, train: Volume, val: Volume, origins: list[tuple[int, ...]], patch: tuple[int, int, int],
             widths: Sequence[int], cfg: TrainConfig, warmup: int, device: torch.device, out: Path) -> Result:
    """Our trainer, timed between the ends of step ``warmup`` and step ``total - 1``."""
    marks: dict[int, float] = {}
    total = cfg.max_steps or 0

    def mark(step: int) -> None:
        if step in (warmup, total - 1):
            sync(device)
            marks[step] = time.perf_counter()

    history = vt.train_model(train, val, origins, patch, cfg, ModelConfig(tuple(widths), PAPER_BN_MOMENTUM),
                             EvalConfig(0.5, 0.5, 4), out, seed=SEED, device=device, callback=mark)
    rate = timed_patches(PatchBatches(train, origins, patch, cfg, SEED), warmup) / (marks[total - 1] - marks[warmup])
    return Result(name, rate, history["loss"][-1][1], f"{cfg.num_workers} workers")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--widths", type=ints, default=PAPER_WIDTHS if cuda else (4, 8, 8, 16, 16))
    p.add_argument("--patch", type=ints, default=(18, 160, 160) if cuda else (6, 48, 48), help="z,y,x")
    p.add_argument("--batch", type=int, default=10 if cuda else 4)
    p.add_argument("--steps", type=int, default=50 if cuda else 40, help="timed steps")
    p.add_argument("--warmup", type=int, default=5 if cuda else 3)
    p.add_argument("--workers", type=int, default=4 if cuda else 1, help="our trainer's DataLoader workers")
    p.add_argument("--compile", action="store_true", help="also time our trainer with torch.compile")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.widths, args.patch, args.batch, args.steps, args.warmup, args.workers = (2, 4, 4), (2, 16, 16), 2, 2, 1, 0
    return args


def main(argv: Sequence[str] | None = None) -> list[Result]:
    args = parse(argv)
    device = torch.device(args.device)
    total = args.warmup + args.steps + 1
    cfg = train_config(args.batch, total, args.workers)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        train, val, origins = make_data(tmp, args.patch)
        results = [run_reference(PatchBatches(train, origins, args.patch, cfg, SEED), args.widths, cfg, args.warmup, device)]
        results.append(run_ours("ours (train_model)", train, val, origins, args.patch, args.widths, cfg, args.warmup, device, tmp / "ours"))
        if args.compile:
            try:
                compiled = dataclasses.replace(cfg, compile=True)  # the trainer's own `train.compile` switch
                results.append(run_ours("ours + torch.compile", train, val, origins, args.patch, args.widths, compiled, args.warmup, device, tmp / "compiled"))
            except Exception as exc:  # noqa: BLE001 - report, don't hide, a backend that fails here
                results.append(Result("ours + torch.compile", None, None, f"not available: {type(exc).__name__}: {str(exc)[:80]}"))
        else:
            results.append(Result("ours + torch.compile", None, None, "not run (pass --compile)"))
    ref = results[0].patches_per_s or float("nan")
    print(f"# training throughput on {machine(device)}")
    print(f"# widths {','.join(map(str, args.widths))}, patch {'x'.join(map(str, args.patch))}, batch {args.batch}, "
          f"{args.steps} timed steps after {args.warmup} warm-up; AMP {'on' if device.type == 'cuda' else 'off (CPU)'} for ours")
    rows = [[r.name, r.patches_per_s if r.patches_per_s else "-", f"{r.patches_per_s / ref:.2f}" if r.patches_per_s else "-",
             f"{r.final_loss:.5f}" if r.final_loss is not None else "-", r.note] for r in results]
    print(table(["variant", "patches/s", "ratio vs reference", f"loss at step {total}", "note"], rows))
    return results


if __name__ == "__main__":
    main()
