"""Fixtures shared by the store tests: a store URL on each back-end, and an open store."""

import pytest

from data.store import open_store
from tests.data.store_helpers import BACKENDS, store_url


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    """A fresh store URL on each back-end (SQLite; PostgreSQL on the test server)."""
    return store_url(request.param, tmp_path)


@pytest.fixture
def store(url):
    """An open store at ``url``, closed after the test."""
    s = open_store(url)
    yield s
    s.close()
