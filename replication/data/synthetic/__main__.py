"""Entry point of ``python -m replication.data.synthetic``."""

import sys

from replication.data.synthetic.cli import main

sys.exit(main())
