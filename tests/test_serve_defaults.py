"""`trunkline serve` defaults: one web process per core only when rate limits can be shared."""

import os

from trunkline.cli import build_parser


def test_one_process_without_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.workers, args.threads) == (1, 1)


def test_one_process_per_core_with_redis(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    args = build_parser().parse_args(["serve"])
    assert args.workers == (os.cpu_count() or 1)
