"""The user-scale and sign-up benchmarks' cheap parts (no twin is started): `pytest benchmarks/`."""

from __future__ import annotations

import pytest
from signup_load import parse_args as signup_args
from user_scale import QUERIES, parse_args, paths, shared_hash, user_id


def test_defaults_measure_the_three_sizes_a_few_requests_at_a_time():
    args = parse_args([])
    assert (args.sizes, args.requests, args.concurrency) == ([1_000, 10_000, 100_000], 200, 4)
    with pytest.raises(SystemExit):
        parse_args(["--sizes", "0"])
    assert signup_args([]).signers == 16


def test_the_seeded_hash_is_one_django_accepts():
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    assert PBKDF2PasswordHasher().verify("bench-password-1", shared_hash())
    assert not PBKDF2PasswordHasher().verify("another", shared_hash())


def test_ids_fit_the_seeds_column_and_the_paths_stay_inside_the_list():
    assert len(user_id(99_999_999)) <= 10
    for size in (1_000, 100_000):
        deep = [p for p in paths(size) if "page=" in p]
        assert all(int(p.rsplit("=", 1)[1]) <= size // 25 for p in deep)
    assert set(QUERIES) == {"count", "COUNT(*)", "first page", "deep page", "search", "search count"}
