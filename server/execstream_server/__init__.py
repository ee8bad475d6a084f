"""execstream server: ingest, fold, fan-out and the gRPC transport around them.

Layers point inward: ``servicer`` (transport) -> domain (``validation``, ``admission``,
``fold``, ``hub``, ``engine``) <- ``store`` adapters. Only ``metrics`` imports
prometheus_client and only ``store`` touches SQL or Redis.
"""
