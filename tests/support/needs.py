"""Which tests need what: markers by need, and a guard that keeps unit tests honest.

Every test gets a marker for what it needs: ``server`` (an execstream server in a thread or
a child process), ``redis``, ``prometheus``, ``browser``, ``tools`` (a toolchain outside
Python, such as buf, run on a copy of the repository); a test that needs none of them is
``unit`` (``pytest -m unit`` runs those alone, in seconds). A test that starts a server
without saying so fails at the start call, so the ``unit`` selection cannot quietly grow
slow.
"""

from __future__ import annotations

NEEDS = ("server", "redis", "prometheus", "browser", "tools")
_running_unit_test: str | None = None


def enter_test(nodeid: str, *, unit: bool) -> None:
    global _running_unit_test
    _running_unit_test = nodeid if unit else None


def leave_test() -> None:
    global _running_unit_test
    _running_unit_test = None


def check_may_start(what: str) -> None:
    """Raise if the running test is a unit test: it must be marked with what it needs."""
    if _running_unit_test is not None:
        raise AssertionError(
            f"{_running_unit_test} starts {what}: mark it with what it needs "
            f"(pytest.mark.{'/'.join(NEEDS)})"
        )
