"""Entry point of ``python -m replication.workflow``."""

import sys

from replication.workflow.cli import main

sys.exit(main())
