"""The local backend: an embedded executor with SLURM's array, state and exit-code semantics."""
