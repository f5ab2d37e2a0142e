"""The ``osa-core`` command line: parser, command groups, renderers."""
