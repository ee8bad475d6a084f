"""The ``execstream`` command line: serve, watch, snapshot, run, report, health, pricing."""
