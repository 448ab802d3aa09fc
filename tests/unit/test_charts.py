"""The dashboard's charts: inline SVG drawn on the server, labelled for people who cannot see it."""

from __future__ import annotations

from storefront.admin.charts import line_chart

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def test_a_chart_carries_its_title_every_months_label_and_value():
    values = [0, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    svg = str(line_chart("Live <subscriptions> & more", MONTHS, values,
                         [f"{v} subs" for v in values]))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'role="img"' in svg
    assert "<title" in svg and "Live &lt;subscriptions&gt; &amp; more" in svg
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    for label in MONTHS:
        assert f">{label}<" in svg
    for value in values:
        assert f"{value} subs" in svg
    # One point per month, the highest at the top of the plot and zero on its floor.
    assert svg.count("<circle") == 12


def test_a_chart_of_nothing_but_zeros_still_draws():
    svg = str(line_chart("MRR", MONTHS, [0] * 12, ["$0.00"] * 12))
    assert svg.count("<circle") == 12
    assert "nan" not in svg.lower()


def test_labels_are_escaped():
    svg = str(line_chart("t", ["<b>"] + MONTHS[1:], list(range(12)), ["<i>"] * 12))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert "<i>" not in svg
