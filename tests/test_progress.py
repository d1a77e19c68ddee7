"""utils/progress.py: a line at most once per interval through a long phase, none at its end."""

from autorecon_tf.utils.progress import IntervalProgress, report_every


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_line_at_most_once_per_interval_and_none_when_done():
    clock, lines = FakeClock(), []
    progress = IntervalProgress("parity, LiteRT", 1000, interval=10.0, log=lines.append, clock=clock)
    for done, now in [(256, 4.0), (512, 10.5), (768, 15.0), (900, 21.0), (1000, 40.0)]:
        clock.now = now
        progress.update(done)
    assert lines == ["  parity, LiteRT: 512 of 1,000 images, 10 s", "  parity, LiteRT: 900 of 1,000 images, 21 s"]


def test_report_every_is_off_when_not_enabled():
    assert report_every("x", 10, enabled=False) is None
    assert isinstance(report_every("x", 10), IntervalProgress)
