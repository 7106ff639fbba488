"""Cells for CSV files that people open in a spreadsheet."""

# A cell starting with one of these is run as a formula by Excel and LibreOffice; a
# typed name, address or URL could start with one (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """The cell as text a spreadsheet shows, never runs: formulas get a leading quote."""
    return f"'{value}" if value.startswith(FORMULA_START) else value
