"""The SLURM backend: its commands (pure builders and parsers) and the backends that run them."""
