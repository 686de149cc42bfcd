"""The kinds of refusal a rule may give, declared once for every service.

A domain error says what kind of refusal it is, never how a door answers it: the HTTP layer
(`shared.plumbing.http.refusal`) turns a kind into a status, a consumer sets the event aside,
the staff page shows the sentence. `code` is stable for clients; the message says why in words.
"""

from __future__ import annotations


class Refusal(Exception):
    """The request contradicts what is already recorded (a conflict): it may pass later or changed."""

    code = "refused"


class Invalid(Refusal):
    """The request is wrong in itself, whatever the state: it must be changed to pass."""


class Missing(Refusal):
    """The request names something that does not exist."""
