"""Server-side commands of ``execstream`` (``serve``, ``pricing``, ``token``, ``dashboard``).

They plug into the client's command through the ``execstream.commands`` entry-point group
(pyproject.toml), so the client package never imports the server.
"""
