import pytest

from guidance.defaults import add_missing_shipped_pages


@pytest.fixture(autouse=True)
def _shipped_guidance(db) -> None:
    """The shipped pages, as migrated: a transactional test run before these (a browser
    test, on PostgreSQL) empties the database, migrated rows included."""
    add_missing_shipped_pages()
