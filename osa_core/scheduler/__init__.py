"""Schedulers: one interface (:mod:`osa_core.scheduler.base`), several backends."""
