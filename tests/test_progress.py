"""audionoise.runtime.progress: tqdm only on terminals; elsewhere a plain line at most every interval, nothing when off."""

import io

from audionoise.runtime.progress import PlainProgress, progress


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_at_most_one_per_interval():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(total=1000, desc="augment", unit="file", file=out, interval_s=10.0, clock=clock)
    for i in range(1000):  # one step every 0.1 s: 100 s in all
        clock.t = (i + 1) / 10
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert 9 <= len(lines) <= 11  # about one line per 10 s, and the final one
    assert lines[0].startswith("augment: 100/1000 files (10%), 10 s, 10 file/s, eta 90 s")
    assert lines[-1] == "augment: 1000/1000 files (100%) done in 100.0 s"


def test_byte_units_are_not_pluralised():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(total=10, desc="download", unit="MB", file=out, interval_s=1.0, clock=clock)
    clock.t = 2.0
    bar.update(5)
    bar.close()
    assert out.getvalue().splitlines() == ["download: 5/10 MB (50%), 2 s, 2.5 MB/s, eta 2 s",
                                           "download: 5/10 MB (50%) done in 2.0 s"]


def test_a_short_loop_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    with PlainProgress(total=5, desc="x", file=out, clock=clock) as bar:
        for _ in range(5):
            clock.t += 1.0  # 5 s in all: under the 10 s interval
            bar.update()
    assert out.getvalue() == ""


def test_postfix_unknown_total_and_no_final_line_without_leave():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(desc="epoch 1/3", unit="batch", file=out, interval_s=2.0, clock=clock, leave=False)
    bar.set_postfix(loss="0.123")
    clock.t = 4.0
    bar.update(8)
    bar.close()
    assert out.getvalue() == "epoch 1/3: 8 batches, 4 s, 2 batch/s, loss=0.123\n"


def test_disabled_prints_nothing_even_on_a_terminal():
    out = FakeTerminal()
    items = list(progress(range(50), desc="x", enabled=False, file=out, interval_s=0))
    assert items == list(range(50)) and out.getvalue() == ""


def test_terminal_gets_tqdm_and_other_streams_get_plain_lines():
    from tqdm import tqdm

    bar = progress(total=3, file=FakeTerminal())
    assert isinstance(bar, tqdm)
    bar.close()
    out = io.StringIO()
    assert list(progress(range(3), desc="d", file=out, interval_s=0)) == [0, 1, 2]
    assert out.getvalue().splitlines()[-1].startswith("d: 3/3 it (100%) done in")


def test_initial_counts_resumed_work_but_not_into_the_rate():
    clock, out = FakeClock(), io.StringIO()
    bar = PlainProgress(total=100, initial=50, desc="r", unit="file", file=out, interval_s=10.0, clock=clock)
    clock.t = 10.0
    bar.update(10)
    assert out.getvalue().startswith("r: 60/100 files (60%), 10 s, 1 file/s, eta 40 s")
