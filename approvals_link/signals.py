"""Signals of the approval link, so the join and the checks follow record changes."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction that stored a new footprint (kwargs: footprint). Receivers
# (the parcel join, the conformity check) run in that transaction: all or nothing.
footprint_created = Signal()
