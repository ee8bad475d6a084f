"""``execstream serve`` with a bug planted in the fold, for the replica-failure tests.

Run as a script (``python faulty_serve.py serve --port ...``): events of tasks whose id
starts with ``poison`` make the fold raise, as a bug would. Nothing in the server knows
about this; the test harness patches the fold before the command starts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

POISON_PREFIX = "poison"


def _plant_fold_bug() -> None:
    from execstream.v1 import events_pb2 as events_pb
    from execstream_server.domain import engine
    from execstream_server.domain.fold import fold

    def buggy_fold(state: Any, events: Iterable[events_pb.ExecutionEvent], **kw: Any) -> Any:
        events = list(events)
        if events and events[0].task_id.startswith(POISON_PREFIX):
            raise ValueError("planted fold bug")
        return fold(state, events, **kw)

    setattr(engine, "fold", buggy_fold)  # noqa: B010 (engine imports fold by name)


def main() -> int:
    from execstream.cli.main import main as execstream_main

    _plant_fold_bug()
    return execstream_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
