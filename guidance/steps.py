"""Which guidance page guides which step of the protocol.

The pages themselves are the partnership's to write (``guidance.models``); the steps
they are linked from are fixed here, so a page can be rewritten or retitled without
losing its place. Link texts are fixed too: a link costs no query, so putting one on a
page changes none of the pages' pinned query counts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    slug: str
    link_text: str


# Step name (as templates name it) -> the page and the words of the link to it.
STEPS: dict[str, Step] = {
    "protocol": Step(
        "missing-protocol", "The missing protocol: who does what, and who must be told"
    ),
    "report": Step("reporting-missing", "Guidance on reporting a child missing"),
    "still_missing": Step("reporting-missing", "Guidance on a child who is still missing"),
    "return": Step("found-or-returned", "Guidance on when a child is found or comes back"),
    "safe_and_well": Step("safe-and-well-checks", "Guidance on safe and well checks"),
    "interview": Step("return-interviews", "Voice of the child: guidance on return interviews"),
    "stuck": Step("creative-engagement", "Guidance on engaging a child who will not engage"),
    "challenge": Step("escalation-policy", "The escalation policy: challenging a decision"),
    "repeat": Step("repeat-missing", "Guidance on children who keep going missing"),
}


def step(name: str) -> Step:
    """The step's link; an unknown name is a programming error, so it fails loudly."""
    return STEPS[name]
