"""Stuck cases: a child the return interview is not reaching.

The audit found a quarter of children would not engage and their cases became
process-driven. A case is stuck, and the record prompts a different approach, when:

- an interview not yet held has N or more failed attempts (no contact, rearranged,
  declined): the pages prompt while it is pending; the managers' list also keeps it
  when it was declined in the period; or
- the child declined the return interview after each of their last N returns: their
  latest N interviews with an outcome were all declined (one still pending counts
  neither way; an interview held ends the run). The prompt is on the child's page and
  on their latest interview's page; the managers' list shows that latest interview.

N is one number, the not-engaging rule's failed attempts (``missingkids.policy``), so
the interview page, the child's page, the managers' stuck-case list and the engine
agree. The managers' list works the same out in SQL (``oversight.queries.stuck_cases``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .models import ReturnInterview

Outcome = ReturnInterview.Outcome


def declines_in_a_row(outcomes_newest_first: Iterable[str]) -> int:
    """How many of the latest interviews with an outcome were declined, newest first,
    up to the latest one held. Pending interviews are skipped."""
    run = 0
    for outcome in outcomes_newest_first:
        if outcome == Outcome.HELD:
            break
        if outcome == Outcome.DECLINED:
            run += 1
    return run


@dataclass(frozen=True)
class Stuck:
    """Why a case is stuck; false when it is not."""

    threshold: int
    failed_attempts: int = 0  # on the interview not yet held, if any
    declines_in_a_row: int = 0

    @property
    def by_attempts(self) -> bool:
        return self.failed_attempts >= self.threshold

    @property
    def by_declines(self) -> bool:
        return self.declines_in_a_row >= self.threshold

    def __bool__(self) -> bool:
        return self.by_attempts or self.by_declines

    @property
    def reasons(self) -> list[str]:
        """What made the case stuck, in words for the page and the managers' list."""
        reasons = []
        if self.by_attempts:
            reasons.append(f"{self.failed_attempts} failed attempts at the return interview")
        if self.by_declines:
            reasons.append(
                f"declined the return interview after each of the last "
                f"{self.declines_in_a_row} returns"
            )
        return reasons
