"""execstream's benchmark: execstream and a raw grpc.aio relay under the same load.

Run ``python -m bench`` (full) or ``python -m bench --smoke`` (seconds, CI); see
docs/performance.md.
"""
