"""Files the stages hand each other: atomic writes, a run folder's layout and its event log.

The engine writes run folders and the results side reads them; neither imports the other, both
import this. ``atomic`` writes files whole, ``run_paths`` names every file of a run folder,
``events`` is the one event format (writer and the only parser).
"""

from replication.io.atomic import (
    atomic_folder,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from replication.io.run_paths import RunPaths

__all__ = [
    "RunPaths",
    "atomic_folder",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]
