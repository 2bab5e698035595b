"""``python -m replication.results``: see :mod:`replication.results.cli`."""

import sys

from replication.results.cli import main

sys.exit(main())
