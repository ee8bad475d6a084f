"""The unit-test guard itself: a unit test that starts something fails, whether the start is
in the test, in a function fixture or in a module-scoped one, and the guard does not outlive
the test (a later test marked with what it needs may start a server)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest
from tests.support import needs


@pytest.fixture(scope="module")
def module_start():
    needs.check_may_start("a module's server")


@pytest.fixture
def function_start():
    needs.check_may_start("a fixture's server")


def test_starts_in_a_module_fixture(module_start):
    pass


def test_starts_in_a_fixture(function_start):
    pass


def test_starts_in_its_body():
    needs.check_may_start("a server")


@pytest.mark.server
def test_marked_may_start_after_the_errors():
    needs.check_may_start("a server")
"""


def test_unit_tests_cannot_start_a_server_from_anywhere(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
        "from tests.conftest import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401\n"
    )
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    unit: u\n    server: s\n"
    )
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=2, failed=1)
    result.stdout.fnmatch_lines(["*test_starts_in_a_module_fixture starts a module's server*"])
