"""Running a training as a submitit job: on SLURM, as local processes, or in this process.

``profile`` is the resources a job asks for (``slurm/<name>.yaml``), ``nodes`` what the cluster
has (``sinfo``), ``jobs`` the job itself and its submission (the only submitit import),
``launch`` the ``python -m replication launch`` command around them.
"""
