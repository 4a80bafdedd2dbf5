"""How the bot writes an amount of money for people to read (`slack_text.usd`)."""

from __future__ import annotations

import pytest

from slackbot.markup import usd


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.0, "$0"),
        (0.0000004, "less than $0.01"),  # a turn costs fractions of a cent: never "$0.0000"
        (0.0042, "less than $0.01"),
        (0.0099, "less than $0.01"),  # would round up to a cent it didn't reach
        (0.01, "$0.01"),
        (0.4237, "$0.42"),
        (0.755, "$0.76"),
        (12.3, "$12.30"),
        (5.0, "$5.00"),
        (1234.5, "$1,234.50"),
        (1234567.891, "$1,234,567.89"),
    ],
)
def test_spend_reads_to_the_cent(amount, shown):
    assert usd(amount) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.25, "$0.25"),
        (5.0, "$5.00"),
        (2.5, "$2.50"),
        (100.0, "$100.00"),
        (1500.0, "$1,500.00"),
        (0.001, "$0.001"),  # a budget set finer than a cent shows as it was set
        (0.125, "$0.125"),
        (1.23456, "$1.23456"),
    ],
)
def test_a_budget_reads_as_it_was_set(amount, shown):
    assert usd(amount, as_set=True) == shown


def test_no_amount_reads_as_zero_unless_it_is():
    for amount in (1e-9, 1e-6, 0.00005, 0.004999):
        assert "0.00" not in usd(amount) and usd(amount) != "$0"


def test_a_negative_amount_keeps_its_sign():
    assert usd(-0.42) == "-$0.42" and usd(-1234.5, as_set=True) == "-$1,234.50"
