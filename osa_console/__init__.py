"""The operator console of the OSA engine: a Textual front end that renders night snapshots.

It never talks to the scheduler, the ledger or the file layout itself: it reads
:class:`osa_core.snapshot.NightSnapshot` objects and sends actions through the engine
(see :mod:`osa_console.engine_port`). Importing this package imports nothing heavy, so that
``osa-console`` draws its first frame well under a second after the command.
"""

__version__ = "0.1.0"
