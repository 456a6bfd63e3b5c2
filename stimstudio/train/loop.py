"""The bookkeeping after each training step that the encoder and detail trainers share:
counters, the snapshot every `snapshot_kimg` (counted on from a resumed image count), the
equal-CPU-time snapshot every `snapshot_cpu_minutes` (counted on from a resumed CPU time), a
metrics line."""

from __future__ import annotations


class SnapshotClock:
    """Says when a snapshot is due: every `every_images`, on from a resumed count."""

    def __init__(self, nimg: int, every_images: int):
        self.every = max(int(every_images), 1)
        self.next = (nimg // self.every + 1) * self.every

    def due(self, nimg: int) -> bool:
        if nimg < self.next:
            return False
        self.next += self.every
        return True


class CpuClock:
    """Says when an equal-CPU-time snapshot is due: every `every_seconds` of the process's CPU
    time, on from a resumed count; `due` gives the mark reached in minutes (None: not due, or
    `every_seconds` <= 0: off)."""

    def __init__(self, cpu_seconds: float, every_seconds: float):
        self.every = float(every_seconds)
        self.next = (int(cpu_seconds // self.every) + 1) * self.every if self.every > 0 else None

    def due(self, cpu_seconds: float) -> float | None:
        if self.next is None or cpu_seconds < self.next:
            return None
        mark = round(self.next / 60, 1)
        self.next += self.every
        return mark


def after_step(
    trainer,
    clock: SnapshotClock,
    images: int,
    seconds: float,
    losses: dict,
    cpu_seconds: float | None = None,
    cpu_clock: CpuClock | None = None,
):
    """Count a finished step on `trainer` (step, nimg, train_seconds; cpu_seconds when given),
    snapshot when due (an equal-CPU-time one as `trainer.snapshot(cpu_minutes=...)`) and log
    every 20th step; returns the event ("snapshot" or None)."""
    trainer.step += 1
    trainer.nimg += images
    trainer.train_seconds += seconds
    if cpu_seconds is not None:
        trainer.cpu_seconds += cpu_seconds
    event = None
    mark = cpu_clock.due(trainer.cpu_seconds) if cpu_clock is not None else None
    kimg_due = clock.due(trainer.nimg)
    if mark is not None:
        trainer.snapshot(cpu_minutes=mark)
        event = "snapshot"
    elif kimg_due:
        trainer.snapshot()
        event = "snapshot"
    if trainer.step % 20 == 0 or event:
        record = {"step": trainer.step, "kimg": round(trainer.nimg / 1000, 3), **losses}
        if cpu_seconds is not None:
            record.update(time=round(trainer.train_seconds, 1), cpu=round(trainer.cpu_seconds, 1))
        trainer._log(record)
    return event


def update_ema(ema, net, images: int, nimg: int, ema_kimg: float, rampup: float) -> None:
    """StyleGAN2's moving average of `net` into `ema` after `images` more images: a half-life
    of `ema_kimg` thousand images, shortened to `rampup` x the images seen so far early in a
    run (so a young run's average is not dominated by its random start); buffers are copied."""
    import torch

    half_life = ema_kimg * 1000
    if rampup:
        half_life = min(half_life, nimg * rampup)
    beta = 0.5 ** (images / max(half_life, 1e-8))
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), net.parameters()):
            pe.copy_(p.detach().lerp(pe, beta))
        for be, b in zip(ema.buffers(), net.buffers()):
            be.copy_(b)
