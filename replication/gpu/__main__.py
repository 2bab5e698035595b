"""python -m replication.gpu wheelhouse|check (standard library only: runs before our deps)."""

from __future__ import annotations

import sys

from replication.gpu.cli import main

if __name__ == "__main__":
    sys.exit(main())
