"""assistant.usage.svg_charts: values to bar geometry, accessible and escaped SVG, and the table fallback."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from assistant.usage.svg_charts import (
    PLOT_HEIGHT,
    TOP,
    ChartSpec,
    Series,
    TableColumn,
    bar_chart,
    bar_heights,
    nice_ceiling,
)

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 - the chart module's own output, not untrusted input


def _bars(svg: str) -> list[dict[str, float]]:
    """The data bars (those with a tooltip) as floats: x, y, width, height."""
    root = _parse(svg)
    return [
        {k: float(rect.attrib[k]) for k in ("x", "y", "width", "height")}
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title") is not None
    ]


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1.0), (-3, 1.0), (7, 10), (10, 10), (11, 20), (0.003, 0.005), (240, 250), (1.5, 2)]
)
def test_the_axis_ends_at_a_round_number_at_or_above_the_peak(value, top):
    assert nice_ceiling(value) == pytest.approx(top)


def test_axis_steps_keep_their_fraction():
    chart = bar_chart(ChartSpec(chart_id="f", title="t", labels=("a",), series=(Series("Q", (5,)),)))
    assert ">2.5</text>" in chart.svg and ">5</text>" in chart.svg and ">0</text>" in chart.svg


def test_bar_heights_are_proportional_to_the_axis_top():
    assert bar_heights([0, 5, 10, 2.5], 10, 200) == [0, 100, 200, 50]
    with pytest.raises(ValueError, match="positive"):
        bar_heights([1], 0)


def test_values_become_bars_of_proportional_height_standing_on_the_axis():
    spec = ChartSpec(
        chart_id="q", title="Questions", labels=("d1", "d2", "d3"), series=(Series("Q", (5, 10, 0)),)
    )
    bars = _bars(bar_chart(spec).svg)
    assert [b["height"] for b in bars] == [PLOT_HEIGHT / 2, PLOT_HEIGHT, 0]  # the axis ends at 10
    assert {b["y"] + b["height"] for b in bars} == {TOP + PLOT_HEIGHT}
    assert bars[0]["x"] < bars[1]["x"] < bars[2]["x"]


def test_stacked_series_pile_up_and_side_by_side_ones_do_not():
    series = (Series("without", (3, 1)), Series("with", (1, 1)))
    stacked = _bars(
        bar_chart(ChartSpec(chart_id="s", title="t", labels=("a", "b"), series=series, stacked=True)).svg
    )
    first_day_low, first_day_high = stacked[0], stacked[1]
    assert first_day_high["y"] + first_day_high["height"] == pytest.approx(first_day_low["y"])
    assert first_day_low["height"] + first_day_high["height"] == pytest.approx(PLOT_HEIGHT * 4 / 5)  # 4 of 5
    grouped = _bars(bar_chart(ChartSpec(chart_id="g", title="t", labels=("a", "b"), series=series)).svg)
    assert grouped[0]["height"] == pytest.approx(PLOT_HEIGHT * 3 / 5)  # the peak 3, rounded up to 5
    assert grouped[1]["x"] > grouped[0]["x"] and grouped[1]["y"] + grouped[1]["height"] == TOP + PLOT_HEIGHT


def test_the_svg_is_an_accessible_image_with_a_name_and_a_title():
    chart = bar_chart(
        ChartSpec(chart_id="q", title="Questions per day", labels=("a",), series=(Series("Q", (2,)),))
    )
    root = _parse(chart.svg)
    assert root.attrib["role"] == "img"
    assert root.attrib["aria-label"].startswith("Questions per day.")
    assert root.find(f"{SVG}title").text == "Questions per day"
    table = _parse(chart.table)
    assert table.find("caption").text == "Questions per day"
    assert [th.text for th in table.iter("th")] == ["Day", "Q", "a"]
    assert table.find("tbody/tr/td").text == "2"


def test_labels_and_names_are_escaped_in_the_svg_and_the_table():
    evil = '<script>alert("x")</script> & co'
    chart = bar_chart(
        ChartSpec(
            chart_id="e",
            title=f"Gaps {evil}",
            labels=(evil,),
            series=(Series(evil, (1,)),),
            label_heading=evil,
        )
    )
    for html in (chart.svg, chart.table):
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "& co" not in html and "&amp; co" in html
        _parse(html)  # still well-formed markup
    tips = [t.text for t in _parse(chart.svg).iter(f"{SVG}title")]
    assert f"{evil}: {evil} 1" in tips  # the tooltip reads the original text once parsed


def test_many_days_get_thinned_axis_labels_but_every_bar():
    labels = tuple(f"day {n}" for n in range(30))
    chart = bar_chart(
        ChartSpec(chart_id="m", title="t", labels=labels, series=(Series("Q", tuple(range(30))),))
    )
    assert len(_bars(chart.svg)) == 30
    axis = re.findall(r">day \d+</text>", chart.svg)
    assert 1 < len(axis) <= 12
    assert chart.table.count('<th scope="row">') == 30


def test_an_empty_chart_still_renders_and_says_so():
    chart = bar_chart(ChartSpec(chart_id="n", title="t", labels=(), series=(Series("Q", ()),)))
    assert "No data." in _parse(chart.svg).attrib["aria-label"]
    assert "No data." in chart.table


def test_table_only_columns_follow_the_series_escaped():
    spec = ChartSpec(
        chart_id="c",
        title="t",
        labels=("a", "b"),
        series=(Series("Q", (1, 2)),),
        table_columns=(TableColumn("Share <b>", ("50.0%", "<i>")),),
    )
    table = bar_chart(spec).table
    assert '<th scope="col">Share &lt;b&gt;</th>' in table
    assert '<td class="num">1</td><td class="num">50.0%</td>' in table and "&lt;i&gt;" in table
    with pytest.raises(ValueError, match="one cell per label"):
        ChartSpec(
            chart_id="c",
            title="t",
            labels=("a",),
            series=(Series("Q", (1,)),),
            table_columns=spec.table_columns,
        )


@pytest.mark.parametrize(
    ("series", "labels", "message"),
    [
        ((Series("Q", (1, -1)),), ("a", "b"), "negative"),
        ((Series("Q", (1,)),), ("a", "b"), "1 values for 2 labels"),
        ((), ("a",), "at least one series"),
    ],
)
def test_bad_figures_are_refused(series, labels, message):
    with pytest.raises(ValueError, match=message):
        ChartSpec(chart_id="x", title="t", labels=labels, series=series)
