from samizdat.core.backoff import backoff_delay


def test_backoff_grows_then_caps_with_jitter_bounds() -> None:
    delays = [backoff_delay(n, base=5, cap=600) for n in range(12)]
    assert delays[:4] == [5, 10, 20, 40]
    assert max(delays) == 600
    assert backoff_delay(3, base=5, cap=600, random=lambda: 0.0) == 20
