"""The training engine: the loop, its state and checkpoints, evaluation, provenance.

``loop`` is :func:`train`, read top to bottom; ``setup`` builds what a run needs and resumes it;
``state`` is the record a checkpoint restores; ``epoch_end`` runs precise BN, evaluation,
checkpoints and the final test; ``network`` runs one step on a device; ``evaluate`` computes
metrics; ``checkpoint`` reads and writes checkpoint files; ``provenance`` records what produced
a run.
"""

from replication.engine.loop import train

__all__ = ["train"]
