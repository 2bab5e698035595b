"""Where a training run stands: the one record resume restores and the loop advances.

Everything besides the model, the optimizer and the RNG states that a checkpoint must carry for
a resumed run to continue exactly as an uninterrupted one: the position (epoch and batch), the
counters the summary reports (the training-loop and job wall-clocks among them), the unfinished
epoch's losses (its ``epoch`` event covers the whole epoch, across a restart), and the event
log's byte offset (events written after the checkpoint are cut on resume, so none appears
twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    """Position and counters of a run; the field names are the checkpoint file's keys."""

    epoch: int = 0  # the epoch training continues in
    batch: int = 0  # batches of that epoch already done (0: the epoch starts afresh)
    step: int = 0  # optimizer steps so far
    wall_s: float = 0.0  # wall-clock of the run so far (earlier job runs included), seconds
    total_s: float = 0.0  # the same from each job's process start (set-up included), seconds
    setup_s: float = 0.0  # of total_s, before each job's training clock started, seconds
    train_gflops: float = 0.0  # training GFLOPs so far (forward + backward = 3x forward)
    epoch_losses: list[float] = field(default_factory=list)  # the current epoch's losses so far
    epoch_clips: int = 0  # clips of the current epoch so far (this process's, as logged)
    epoch_loop_s: float = 0.0  # the current epoch's iterations so far, seconds (its epoch_s)
    loop_s: float = 0.0  # the iterations of the epochs before it, seconds (sum of epoch_s)
    curves_done: int = 0  # curve points evaluated so far (train.curve_fractions)
    curve_s: float = 0.0  # their evaluations' wall-clock, seconds
    events_offset: int = 0  # size of the event log when the checkpoint was written, bytes

    def count_step(self, loss: float, clips: int, gflops: float) -> None:
        """Advance by one optimizer step that trained ``clips`` clips at ``gflops`` in all."""
        self.step += 1
        self.epoch_clips += clips
        self.epoch_losses.append(loss)
        self.train_gflops += gflops

    def next_epoch(self) -> None:
        """Move to the start of the following epoch."""
        self.epoch, self.batch = self.epoch + 1, 0
        self.loop_s += self.epoch_loop_s
        self.epoch_losses, self.epoch_clips, self.epoch_loop_s = [], 0, 0.0

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, batch): where training continues; a checkpoint is new when this moved."""
        return self.epoch, self.batch
