"""How a chart is drawn from its numbers: a fresh task's first minute shows something, and the minute under way is
drawn at its rate so far rather than as a drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.charts import Chart, Series, Window, draw

START = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)


def points(shape: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in shape.split()]


def test_a_fresh_tasks_first_minute_draws_a_visible_point_and_area():
    window = Window(START + timedelta(seconds=5), START + timedelta(seconds=40), "minute")
    steps = draw(Chart("Steps per minute", "steps/min", "lines", window, [Series("steps", "s-0", [12])], rate=True))
    assert len(steps.series[0].dots) == 1  # a one-point line has no length: its point is marked
    status = draw(Chart("Agents by status", "agents", "area", window, [Series("running", "st-running", [20])]))
    xs = {x for x, _ in points(status.series[0].shape)}
    assert max(xs) - min(xs) > 100  # the one bucket spans its band


def test_the_minute_under_way_is_drawn_at_its_rate_so_far():
    window = Window(START, START + timedelta(minutes=1, seconds=15), "minute")  # a quarter into the 2nd minute
    chart = draw(Chart("Steps per minute", "steps/min", "lines", window, [Series("steps", "s-0", [60, 15])], rate=True))
    (_, first), (_, last) = points(chart.series[0].shape)
    assert first == last  # 15 steps in 15 s is the same pace as 60 in the minute before
    assert chart.summary == "Steps per minute: steps 15"  # what has happened, as counted


def test_a_long_window_draws_lines_without_marking_every_point():
    window = Window(START, START + timedelta(hours=2, minutes=59), "minute")
    values = [float(i % 7) for i in range(180)]
    chart = draw(Chart("Steps per minute", "steps/min", "lines", window, [Series("steps", "s-0", values)], rate=True))
    assert len(points(chart.series[0].shape)) == 180 and chart.series[0].dots == []
    assert [label for _, label, _ in chart.labels] == ["06:00", "07:30", "08:59"]


def test_hours_of_several_days_say_which_day():
    window = Window(START, START + timedelta(hours=60), "hour")
    chart = draw(Chart("Tokens per model", "tokens", "lines", window, [Series("m", "s-0", [1.0] * 61)], rate=True))
    assert [label for _, label, _ in chart.labels] == ["Nov 30 06:00", "Dec 01 12:00", "Dec 02 18:00"]
