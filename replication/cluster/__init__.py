"""Running a training as a submitit job on SLURM, as local processes or in this process."""
