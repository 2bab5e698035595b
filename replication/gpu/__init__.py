"""The GPU check for a node with no package index: a wheelhouse, then a short check script.

``python -m replication.gpu wheelhouse`` (here, with internet) downloads or builds wheels of
exactly what a GPU node with its own Python and torch lacks; ``python -m replication.gpu check``
(there) installs them without an index and runs the ``gpu`` tests, the single-GPU smoke plan's
baseline and long + short, their tables and a precision/layout step-time comparison in under 8
minutes (docs/gpu.md). Both run on the standard library alone until the install is done.
"""
