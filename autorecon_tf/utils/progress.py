"""A progress line at a fixed interval, for long phases that have no epoch (and so no ProgressRecorder line).

The export's parity pass runs 10,000 test images through Keras and LiteRT; a run
that prints nothing for a minute looks hung.
"""

import time

INTERVAL_SECONDS = 10.0


class IntervalProgress:
    """Prints ``label: done of total images, seconds`` at most once per ``interval`` seconds, never at the end.

    Example:
      >>> progress = IntervalProgress("parity, LiteRT", len(images))
      >>> for start in range(0, len(images), 256):
      ...     run(images[start : start + 256]); progress.update(start + 256)
    """

    def __init__(self, label, total, interval=INTERVAL_SECONDS, log=print, clock=time.monotonic):
        self.label, self.total, self.interval, self.log, self.clock = label, int(total), interval, log, clock
        self._start = self._last = clock()

    def update(self, done):
        now = self.clock()
        if done < self.total and now - self._last >= self.interval:
            self._last = now
            self.log(f"  {self.label}: {done:,} of {self.total:,} images, {now - self._start:.0f} s")


def report_every(label, total, enabled=True):
    """An :class:`IntervalProgress`, or None (no progress) when ``enabled`` is false."""
    return IntervalProgress(label, total) if enabled else None
