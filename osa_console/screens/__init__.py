"""The console's screens: overview, sequence detail, log view, help, and the dialogs."""
