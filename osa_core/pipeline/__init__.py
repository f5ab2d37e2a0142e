"""Pipeline profiles: which steps a calibration or data subrun task runs."""
