"""The business-type catalogue: lookup by code or KuCoin display name."""

from __future__ import annotations

import pytest

from kuledger.domain import biztypes
from kuledger.domain.errors import UnknownBizType


@pytest.mark.parametrize("biz", biztypes.CATALOGUE, ids=lambda b: b.code)
def test_every_type_is_found_by_its_code_and_by_its_display_name(biz):
    assert biztypes.lookup(biz.code) is biz
    assert biztypes.lookup(biz.display) is biz


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("kucoin bonus", "KUCOIN_BONUS"),
        ("KUCOIN BONUS", "KUCOIN_BONUS"),
        ("trade_exchange", "TRADE_EXCHANGE"),
        ("Sub Account Transfer", "SUB_TRANSFER"),
        ("sub_transfer", "SUB_TRANSFER"),
        ("RealisedPNL", "REALISED_PNL"),
        ("Airdrop/Fork", "AIRDROP_FORK"),
    ],
)
def test_lookup_ignores_case(name, code):
    assert biztypes.lookup(name).code == code


@pytest.mark.parametrize("name", ["", "Lottery", "DEPOSITS", " Deposit", None, 7])
def test_an_unknown_name_raises_unknown_biz_type_naming_the_field(name):
    with pytest.raises(UnknownBizType) as info:
        biztypes.lookup(name, field="bizType")
    assert info.value.field == "bizType"


def test_codes_and_display_names_are_unique():
    codes = [b.code for b in biztypes.CATALOGUE]
    displays = [b.display.casefold() for b in biztypes.CATALOGUE]
    assert len(set(codes)) == len(codes)
    assert len(set(displays)) == len(displays)


def test_a_spot_filter_selects_the_codes_that_declare_it():
    assert biztypes.codes_for_spot_filter("DEPOSIT") == ("DEPOSIT",)
    assert biztypes.codes_for_spot_filter("TRADE_EXCHANGE") == ("TRADE_EXCHANGE",)
    assert biztypes.codes_for_spot_filter("NOPE") == ()
    assert "TRANSFER" in biztypes.SPOT_FILTERS
    assert "REWARDS" not in biztypes.SPOT_FILTERS
