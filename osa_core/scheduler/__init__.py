"""Schedulers: one interface (:mod:`osa_core.scheduler.base`), its factory, several backends."""
