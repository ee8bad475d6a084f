"""Content digests: what makes a resent (task, seq) the same event as the committed one.

A duplicate's digest is compared with the committed event's: the stores find the stored
event of a resent seq through their task index and digest it then, so nothing is kept
per event and the common path computes no digest of a committed event.
"""

from __future__ import annotations

import hashlib

from execstream.v1 import events_pb2 as events_pb

SeqKey = tuple[str, int]  # (task_id, seq)
DIGEST_BYTES = 8
# What ``digest_of`` answers for a committed seq whose event is gone (compacted): it
# cannot be compared, so the resend counts as a duplicate.
UNKNOWN_DIGEST = b""
# The fields the server stamps on each body that has any (costs), left out of the digest.
_SERVER_FIELDS = {
    "finished": ("cost",),
    "status": ("cost",),
    "error": ("cost",),
    "usage": ("cost", "task_cost"),
}


def content_digest(event: events_pb.ExecutionEvent) -> bytes:
    """8 bytes of BLAKE2b over what makes two sends of one (task, seq) the same event.

    The content is the body (its kind and every field, except the costs the server
    stamps) and the attempt (0 and 1 are the same). Left out: ``time`` (a resend may be
    stamped anew, or carry none and get the server's clock), ``revision`` and
    ``sidecar_id`` (the server's; ownership is checked apart), and task_id and seq (the key).
    """
    body = event.WhichOneof("body") or ""
    key = (body, event.attempt or 1)
    head = _HEADS.get(key)
    if head is None:
        head = _HEADS[key] = b"%d %s " % (key[1], body.encode())
    if not body:
        return hashlib.blake2b(head, digest_size=DIGEST_BYTES).digest()
    part = getattr(event, body)
    stamped = _SERVER_FIELDS.get(body, ())
    if any(part.HasField(name) for name in stamped):
        bare = type(part)()
        bare.CopyFrom(part)
        for name in stamped:
            bare.ClearField(name)
        part = bare
    data = part.SerializeToString(deterministic=True)
    return hashlib.blake2b(head + data, digest_size=DIGEST_BYTES).digest()


# The digest's prefix per (body, attempt): a handful of kinds, and attempts are few.
_HEADS: dict[tuple[str, int], bytes] = {}
