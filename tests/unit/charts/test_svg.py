"""The SVG charts: well-formed, escaped, scaled to nice ticks, with gaps where data is missing."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.charts import BarChart, LineChart, Series, duration_unit, nice_ticks
from sevflow.charts.svg import number_label

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("max_value", "expected"),
    [
        (10, [0, 2.5, 5, 7.5, 10]),
        (7, [0, 2, 4, 6, 8]),
        (100, [0, 25, 50, 75, 100]),
        (0.3, [0, 0.1, 0.2, 0.3]),
        (1, [0, 0.25, 0.5, 0.75, 1]),
        (0, [0, 1]),
        (-3, [0, 1]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_nice_ticks(max_value: float, expected: list[float]) -> None:
    assert nice_ticks(max_value) == expected


@given(st.floats(min_value=1e-6, max_value=1e12, allow_nan=False))
def test_nice_ticks_cover_the_maximum_in_a_few_even_steps(max_value: float) -> None:
    ticks = nice_ticks(max_value)
    assert ticks[0] == 0
    assert ticks[-1] >= max_value * (1 - 1e-9)
    assert 2 <= len(ticks) <= 9
    step = ticks[1]
    assert all(b - a == pytest.approx(step, rel=1e-6) for a, b in itertools.pairwise(ticks))


def test_nice_ticks_wants_a_step() -> None:
    with pytest.raises(ValueError, match="count"):
        nice_ticks(10, count=0)


@pytest.mark.parametrize(
    ("seconds", "unit"), [(0, "s"), (119, "s"), (120, "min"), (7199, "min"), (7200, "h"), (3 * 86400, "d")]
)
def test_duration_unit(seconds: float, unit: str) -> None:
    assert duration_unit(seconds)[1] == unit


def test_number_label() -> None:
    assert number_label(3.0) == "3"
    assert number_label(2.25) == "2.2"  # one decimal, banker's rounding of format()
    assert number_label(0) == "0"


def test_a_line_chart_is_well_formed_svg_with_a_point_per_value() -> None:
    chart = LineChart(
        "MTTA (min)",
        ["W1", "W2", "W3"],
        [Series("MTTA", [1.0, 4.0, 2.0]), Series("MTTR", [10.0, 20.0, 15.0], color="#d97706")],
    )
    root = parse(chart.render())
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 640 220"
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert len(list(root.iter(f"{SVG}circle"))) == 6
    labels = texts(root)
    assert {"W1", "W2", "W3", "MTTA", "MTTR", "MTTA (min)"} <= set(labels)
    # The y axis runs to the tick above the largest value.
    assert "20" in labels and "0" in labels


def test_a_higher_value_is_drawn_higher() -> None:
    root = parse(LineChart("t", ["a", "b"], [Series("s", [1.0, 3.0])]).render())
    first, second = (float(c.get("cy", "0")) for c in root.iter(f"{SVG}circle"))
    assert second < first  # SVG's y grows downwards


def test_missing_values_break_the_line() -> None:
    root = parse(LineChart("t", list("abcde"), [Series("s", [1.0, 2.0, None, 3.0, 4.0])]).render())
    lines = list(root.iter(f"{SVG}polyline"))
    assert [len(line.get("points", "").split()) for line in lines] == [2, 2]
    assert len(list(root.iter(f"{SVG}circle"))) == 4


def test_a_lone_point_between_gaps_is_a_dot_without_a_line() -> None:
    root = parse(LineChart("t", list("abc"), [Series("s", [None, 2.0, None])]).render())
    assert list(root.iter(f"{SVG}polyline")) == []
    assert len(list(root.iter(f"{SVG}circle"))) == 1


def test_no_data_says_so() -> None:
    for svg in (
        LineChart("t", ["a", "b"], [Series("s", [None, None])]).render(),
        LineChart("t", [], []).render(),
        BarChart("t", ["a"], [None]).render(),
    ):
        assert "no data" in texts(parse(svg))


def test_labels_titles_and_names_are_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    svg = LineChart(evil, [evil, "b"], [Series(evil, [1.0, 2.0]), Series("b", [1.0, 1.0])]).render()
    assert "<script>" not in svg
    root = parse(svg)  # still well-formed XML
    assert evil in texts(root)
    assert root.get("aria-label") == evil
    bars = BarChart(evil, [evil], [1.0]).render()
    assert "<script>" not in bars
    assert evil in texts(parse(bars))


def test_only_hex_colours_reach_an_attribute() -> None:
    with pytest.raises(ValueError, match="colour"):
        Series("s", [1.0], color='red" onload="alert(1)')


def test_values_must_be_finite_and_not_negative() -> None:
    with pytest.raises(ValueError, match="finite"):
        Series("s", [float("nan")])
    with pytest.raises(ValueError, match="negative"):
        BarChart("t", ["a"], [-1.0])


def test_each_series_needs_a_value_per_label() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        LineChart("t", ["a", "b", "c"], [Series("s", [1.0, 2.0])])
    with pytest.raises(ValueError, match="1 values for 2 labels"):
        BarChart("t", ["a", "b"], [1.0])


def test_bars_have_their_value_as_height() -> None:
    root = parse(BarChart("Incidents", ["a", "b", "c"], [2.0, 4.0, 0.0]).render())
    bars = [r for r in root.iter(f"{SVG}rect")]
    heights = [float(r.get("height", "0")) for r in bars]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert heights[2] == 0
    assert "".join(bars[1].itertext()) == "b: 4"


def test_long_label_runs_are_thinned_but_the_newest_is_kept() -> None:
    labels = [f"W{i}" for i in range(12)]
    root = parse(BarChart("t", labels, [1.0] * 12).render())
    shown = [t for t in texts(root) if t.startswith("W")]
    assert "W11" in shown
    assert len(shown) <= 7


def test_a_single_label_is_centred() -> None:
    root = parse(LineChart("t", ["only"], [Series("s", [5.0])]).render())
    (circle,) = root.iter(f"{SVG}circle")
    assert float(circle.get("cx", "0")) == pytest.approx(44 + (640 - 44 - 24) / 2)
