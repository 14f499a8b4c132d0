"""Where a grant comes from; free of I/O, so the pure subscription policy can name them too."""

from __future__ import annotations

from enum import StrEnum


class GrantSource(StrEnum):
    """A grant's source (the values are stored); `Grant.source_id` says which one."""

    SUBSCRIPTION = "subscription"  # a paid subscription's period
    TRIAL = "trial"  # a subscription's free trial
    COMP = "comp"  # a complimentary membership a publisher gave
    GIFT = "gift"  # a membership someone gave the reader
