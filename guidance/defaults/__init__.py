"""The guidance pages shipped with the service, written from the partnership's protocol
and the audit's recommendations. Each file: ``title:`` and ``summary:`` lines, a line of
``---``, then the page in Markdown. A partnership rewrites them in the service; these
files are read only when a database is first migrated (``0002_shipped_pages``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent


def shipped_pages() -> list[dict[str, str]]:
    pages = []
    for path in sorted(HERE.glob("*.md")):
        header, _, body = path.read_text(encoding="utf-8").partition("\n---\n")
        fields = dict(line.split(": ", 1) for line in header.splitlines() if line.strip())
        pages.append(
            {
                "slug": path.stem,
                "title": fields["title"],
                "summary": fields.get("summary", ""),
                "body": body.strip() + "\n",
            }
        )
    return pages


def add_missing_shipped_pages() -> int:
    """Add, as version 1, any shipped page missing from the database (after a database
    was emptied, for instance); pages already there are left as the partnership wrote
    them. Returns how many were added."""
    from guidance.actions import add_page
    from guidance.models import GuidancePage

    present = set(GuidancePage.objects.values_list("slug", flat=True))
    added = 0
    for shipped in shipped_pages():
        if shipped["slug"] not in present:
            add_page(**shipped, by=None, change_note="Shipped with the service")
            added += 1
    return added
