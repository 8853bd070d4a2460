"""A pytest plugin (tests/conftest.py takes its hook) that keeps `--dist loadgroup`'s groups together.

pytest-xdist 3.8 puts a test of an xdist_group in its group by writing "test_id@group" to the item's
`_nodeid`, which pytest 9.2 no longer reads (its node ids are structured: pytest-xdist issue 1386), so
every group was spread over both workers and each built the group's fixtures. Until xdist writes the new
id itself, the hook copies xdist's id over, after xdist's own hook; where the two agree it does nothing.
"""
import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """After xdist's own hook (trylast): its grouped id where pytest reads ids."""
    if not config.getoption("loadgroup", False):
        return
    for item in items:
        grouped = item.__dict__.get("_nodeid")
        if grouped and grouped != item.nodeid:
            item._id = type(item._id).parse(grouped)
