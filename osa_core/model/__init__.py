"""The bottom layer: states, typed records, the snapshot, errors, configuration, layout and file helpers."""
