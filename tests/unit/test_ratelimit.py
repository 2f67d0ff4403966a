from realtime.budgets import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_up_to_capacity_then_refused():
    bucket = TokenBucket(10, 10, clock=FakeClock())
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]


def test_refills_at_capacity_per_window():
    clock = FakeClock()
    bucket = TokenBucket(10, 10, clock=clock)
    for _ in range(10):
        bucket.take()
    clock.now = 1.0  # one token per second
    assert bucket.take()
    assert not bucket.take()
    clock.now = 100.0  # never more than capacity
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]


def test_keyed_buckets_are_independent_per_key():
    from realtime.budgets import KeyedBuckets

    buckets = KeyedBuckets(2, 60, clock=FakeClock())
    assert [buckets.take("1.2.3.4") for _ in range(3)] == [True, True, False]
    assert buckets.take("5.6.7.8")


def test_keyed_buckets_memory_is_bounded():
    from realtime.budgets import KeyedBuckets

    clock = FakeClock()
    buckets = KeyedBuckets(1, 1, max_keys=100, clock=clock)
    for i in range(1_000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets.buckets) <= 100
