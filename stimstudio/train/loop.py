"""The bookkeeping after each training step that the encoder trainers share: counters, the
snapshot every `snapshot_kimg` (counted on from a resumed image count), a metrics line."""

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


def after_step(trainer, clock: SnapshotClock, images: int, seconds: float, losses: dict):
    """Count a finished step on `trainer` (step, nimg, train_seconds), snapshot when due and
    log every 20th step; returns the event ("snapshot" or None)."""
    trainer.step += 1
    trainer.nimg += images
    trainer.train_seconds += seconds
    event = None
    if clock.due(trainer.nimg):
        trainer.snapshot()
        event = "snapshot"
    if trainer.step % 20 == 0 or event:
        trainer._log({"step": trainer.step, "kimg": round(trainer.nimg / 1000, 3), **losses})
    return event
