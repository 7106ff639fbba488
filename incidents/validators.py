"""Validation of identifiers typed in by people: NHS numbers and UK postcodes."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# The UK postcode format (outward code, space, inward code), including London's
# sub-districts (EC1A) and the Girobank code GIR 0AA.
_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ]"
    r"([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPSTUW]|[A-HK-Y][0-9][ABEHMNPRVWXY])"
    r" ?[0-9][ABD-HJLNP-UW-Z]{2})$"
)


def normalise_postcode(value: str) -> str:
    """Upper case with a single space before the inward code: 'ch11aa' -> 'CH1 1AA'."""
    compact = re.sub(r"\s+", "", value or "").upper()
    if len(compact) < 5:
        return compact
    return f"{compact[:-3]} {compact[-3:]}"


def validate_uk_postcode(value: str) -> None:
    if not value:
        return
    if not _POSTCODE.match(normalise_postcode(value)):
        raise ValidationError("Enter a real UK postcode, like CH1 1SF", code="invalid_postcode")


def normalise_nhs_number(value: str) -> str:
    return re.sub(r"[\s-]", "", value or "")


def nhs_number_is_valid(value: str) -> bool:
    """Modulus 11 check: weights 10..2 on the first nine digits give the tenth."""
    digits = normalise_nhs_number(value)
    if not re.fullmatch(r"\d{10}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - (total % 11)
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def validate_nhs_number(value: str) -> None:
    if not value:
        return
    digits = normalise_nhs_number(value)
    if not re.fullmatch(r"\d{10}", digits):
        raise ValidationError(
            "An NHS number must be 10 digits, like 485 777 3457", code="nhs_format"
        )
    if not nhs_number_is_valid(digits):
        raise ValidationError(
            "Enter a valid NHS number: the check digit does not match, so it may be mistyped",
            code="nhs_checksum",
        )


# The Unique Pupil Number (DfE): a check letter, then the issuing authority's code and
# the number. The check letter comes from characters 2-13, each weighted by its position
# (2 to 13), summed, modulo 23; the letters stand for 0-22 in this order (I, O and S are
# never used, to avoid misreading). As DfE's UPN guide and its validators compute it.
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN_FORMAT = re.compile(rf"^[{UPN_LETTERS}]\d{{11}}[0-9{UPN_LETTERS}]$")


def normalise_upn(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def upn_check_letter(body: str) -> str:
    """The check letter for characters 2-13 of a UPN (12 characters)."""
    total = 0
    for char, weight in zip(body, range(2, 14), strict=True):
        total += (UPN_LETTERS.index(char) if char.isalpha() else int(char)) * weight
    return UPN_LETTERS[total % 23]


def validate_upn(value: str) -> None:
    """13 characters: check letter, 11 digits, then a digit or (a temporary UPN) a letter."""
    if not value:
        return
    upn = normalise_upn(value)
    if len(upn) != 13:
        raise ValidationError(
            "A unique pupil number must be 13 characters, like H801200001001",
            code="upn_length",
        )
    if not _UPN_FORMAT.match(upn):
        raise ValidationError(
            "A unique pupil number is a letter, 11 digits, then a digit or a letter; the "
            "letters I, O and S are not used",
            code="upn_format",
        )
    if upn_check_letter(upn[1:]) != upn[0]:
        raise ValidationError(
            "Enter a valid unique pupil number: the check letter does not match, so it may "
            "be mistyped",
            code="upn_checksum",
        )
