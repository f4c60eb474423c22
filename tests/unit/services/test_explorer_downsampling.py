"""The balance chart's downsampling and sampling: pure rules, checked on
examples and on arbitrary series (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuledger.services.explorer import Bucket, downsample, sample_seqs

D = Decimal


def test_each_bucket_keeps_first_low_high_and_last():
    points = [(0, D(5)), (1, D(9)), (2, D(1)), (3, D(4)), (10, D(7)), (11, D(8))]
    assert downsample(points, 2) == [
        Bucket(0, 3, 4, D(5), D(1), D(9), D(4)),
        Bucket(10, 11, 2, D(7), D(7), D(8), D(8)),
    ]


def test_a_spike_inside_a_bucket_survives():
    points = [(t, D(100)) for t in range(1000)]
    points[517] = (517, D(1_000_000))
    [bucket] = [b for b in downsample(points, 10) if b.start <= 517 <= b.end]
    assert bucket.high == D(1_000_000) and bucket.low == D(100)


def test_empty_time_slices_are_left_out():
    points = [(0, D(1)), (1, D(2)), (1_000_000, D(3))]
    buckets = downsample(points, 100)
    assert [b.count for b in buckets] == [2, 1]


def test_no_points_no_buckets_and_buckets_must_be_positive():
    assert downsample([], 10) == []
    with pytest.raises(ValueError):
        downsample([(0, D(1))], 0)


def test_points_at_one_time_make_one_bucket():
    assert downsample([(5, D(1)), (5, D(3)), (5, D(2))], 50) == [
        Bucket(5, 5, 3, D(1), D(1), D(3), D(2))
    ]


series = st.lists(
    st.tuples(
        st.integers(0, 10**12),
        st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False),
    ),
    min_size=1,
    max_size=300,
).map(sorted)


@given(series, st.integers(1, 700))
def test_downsampling_is_bounded_and_loses_no_extreme(points, buckets):
    out = downsample(points, buckets)
    assert 1 <= len(out) <= buckets
    assert sum(b.count for b in out) == len(points)
    assert min(b.low for b in out) == min(v for _, v in points)
    assert max(b.high for b in out) == max(v for _, v in points)
    assert out[0].first == points[0][1] and out[-1].last == points[-1][1]
    assert all(a.end < b.start for a, b in pairwise(out))
    assert all(
        b.low <= min(b.first, b.last) <= max(b.first, b.last) <= b.high for b in out
    )


def test_sample_seqs_spans_both_ends_evenly():
    assert sample_seqs(1, 5, 10) == [1, 2, 3, 4, 5]
    assert sample_seqs(1, 1001, 11) == list(range(1, 1002, 100))


@given(st.integers(1, 10**9), st.integers(0, 10**7), st.integers(2, 5000))
def test_sample_seqs_is_bounded_sorted_and_inside_the_range(lo, width, count):
    hi = lo + width
    seqs = sample_seqs(lo, hi, count)
    assert seqs[0] == lo and seqs[-1] == hi
    assert len(seqs) <= count and seqs == sorted(set(seqs))
