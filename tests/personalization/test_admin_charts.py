"""personalization.admin.charts: SVG line charts that parse, escape texts and degrade well."""

import xml.etree.ElementTree as ET

from personalization.admin.charts import Band, Series, line_chart_svg, number_short

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{NS}text")]


def test_chart_draws_one_polyline_per_series_with_a_legend_and_a_title():
    root = parse(
        line_chart_svg(
            [
                Series("default", [(0, 10.0), (1, 12.5), (2, 14.0)]),
                Series("popularity", [(0, 4.0), (1, 4.5), (2, 4.2)], dashed=True),
            ],
            title="HR@20 by version",
            x_label="version",
            y_label="HR@20 (%)",
            x_ticks=[(0, "v1"), (1, "v2"), (2, "v3")],
        )
    )
    lines = root.findall(f".//{NS}polyline")
    assert len(lines) == 2
    assert [len(line.get("points").split()) for line in lines] == [3, 3]
    assert lines[1].get("stroke-dasharray") and not lines[0].get("stroke-dasharray")
    labels = texts(root)
    assert "HR@20 by version" in labels
    assert {"v1", "v2", "v3", "version", "HR@20 (%)", "default", "popularity"} <= set(labels)
    assert len(root.findall(f".//{NS}circle")) == 6


def test_higher_values_are_drawn_higher_on_the_page():
    root = parse(line_chart_svg([Series("loss", [(1, 100.0), (2, 50.0)])], title="loss"))
    [line] = root.findall(f".//{NS}polyline")
    (_, y_first), (_, y_second) = (map(float, p.split(",")) for p in line.get("points").split())
    assert y_first < y_second  # SVG y grows downwards


def test_chart_escapes_markup_in_labels_title_and_tips():
    svg = line_chart_svg(
        [
            Series("<b>knn</b> & co", [(0, 1.0), (1, 2.0)], tips=['a "<tip>"', "b"]),
            Series("other", [(0, 2.0), (1, 1.0)]),
        ],
        title="loss < 5 & falling",
        x_ticks=[(0, "<v1>"), (1, "v2")],
    )
    assert "<b>" not in svg and "<v1>" not in svg and "<tip>" not in svg
    root = parse(svg)
    labels = texts(root)
    assert "loss < 5 & falling" in labels
    assert "<b>knn</b> & co" in labels
    assert "<v1>" in labels
    tips = [element.text for element in root.iter(f"{NS}title")]
    assert 'a "<tip>"' in tips


def test_empty_chart_has_axes_and_says_there_is_no_data():
    root = parse(line_chart_svg([], title="Nothing yet", empty_text="no evaluated version yet"))
    assert root.findall(f".//{NS}polyline") == []
    assert root.findall(f".//{NS}path")  # the axes
    assert "no evaluated version yet" in texts(root)
    root = parse(line_chart_svg([Series("default", [])], title="Still nothing"))
    assert root.findall(f".//{NS}polyline") == []


def test_single_point_is_drawn_inside_the_plot():
    svg = line_chart_svg(
        [Series("default", [(0, 42.0)])], title="one version", x_ticks=[(0, "v7")], width=400
    )
    root = parse(svg)
    [line] = root.findall(f".//{NS}polyline")
    [circle] = root.findall(f".//{NS}circle")
    x, y = float(circle.get("cx")), float(circle.get("cy"))
    assert 0 < x < 400 and 0 < y < float(root.get("height"))
    assert line.get("points") == f"{x:.1f},{y:.1f}"
    assert "v7" in texts(root)


def test_all_zero_and_negative_values_still_make_a_valid_scale():
    for points in ([(0, 0.0), (1, 0.0)], [(0, -3.0), (1, 2.0)]):
        root = parse(line_chart_svg([Series("s", points)], title="t"))
        coords = root.find(f".//{NS}polyline").get("points")
        assert "nan" not in coords and "inf" not in coords


def test_many_x_ticks_are_thinned_so_labels_do_not_overlap():
    ticks = [(i, f"v{i}") for i in range(200)]
    root = parse(
        line_chart_svg([Series("s", [(i, i) for i in range(200)])], title="t", x_ticks=ticks)
    )
    shown = [label for label in texts(root) if label.startswith("v")]
    assert 2 <= len(shown) <= 15


def test_number_short_labels():
    assert [number_short(v) for v in (0, 0.25, 12, 350_000, 1_234_567)] == [
        "0",
        "0.25",
        "12",
        "350k",
        "1.23M",
    ]


def test_nine_series_the_quality_charts_draw_have_nine_colours():
    # The default, six parts of the blend and two baselines share one chart.
    series = [Series(f"s{n}", [(0, float(n)), (1, n + 0.5)]) for n in range(9)]
    root = parse(line_chart_svg(series, title="t", x_label="x", y_label="y"))
    strokes = [line.get("stroke") for line in root.findall(f".//{NS}polyline")]
    assert len(strokes) == 9 and len(set(strokes)) == 9


def test_a_band_is_shaded_between_its_bounds_under_the_line_and_a_rule_is_drawn():
    root = parse(
        line_chart_svg(
            [Series("share", [(1, 0.6), (2, 0.55), (3, 0.58)], markers=False)],
            bands=[
                Band(
                    "95% interval", [(1, 0.2), (2, 0.4), (3, 0.45)], [(1, 0.9), (2, 0.7), (3, 0.66)]
                )
            ],
            rules=[(0.5, "50%: no difference")],
            title="win share",
            x_format=lambda value: f"{value:,.0f}",
        )
    )
    [polygon] = root.findall(f".//{NS}polygon")
    corners = [tuple(map(float, p.split(","))) for p in polygon.get("points").split()]
    assert len(corners) == 6  # the highs left to right, then the lows back
    [line] = root.findall(f".//{NS}polyline")
    drawn = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    for (_, y), (_, y_high), (_, y_low) in zip(drawn, corners[:3], corners[:2:-1], strict=True):
        assert y_high < y < y_low  # the line inside its band (SVG y grows downwards)
    assert root.findall(f".//{NS}circle") == []  # no markers asked
    [rule] = [e for e in root.iter(f"{NS}line") if e.get("class") == "rule"]
    assert y_low > float(rule.get("y1")) > y_high  # 0.5 sits inside the last interval
    assert {"50%: no difference", "95% interval", "share"} <= set(texts(root))
    # the band's polygon is drawn before (under) the line
    order = [e.tag for e in root.iter() if e.tag in (f"{NS}polygon", f"{NS}polyline")]
    assert order == [f"{NS}polygon", f"{NS}polyline"]


def test_a_rule_outside_the_data_widens_the_y_axis_to_show_it():
    root = parse(
        line_chart_svg([Series("d", [(1, 0.2), (2, 0.3)])], rules=[(-0.1, "floor")], title="d")
    )
    assert "-0.1" in texts(root)
