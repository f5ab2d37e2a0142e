"""The headless engine of the OSA console: plan, submit, track and close an LST-1 night.

Nothing in this package imports Textual or lstchain; both are tested.
"""

__version__ = "0.1.0"
