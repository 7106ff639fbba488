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
