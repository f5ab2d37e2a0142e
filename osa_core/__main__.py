"""``python -m osa_core``: the same as the ``osa-core`` command (job scripts use this form)."""

from osa_core.cli.main import main

raise SystemExit(main())
