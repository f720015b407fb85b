"""docs/benchmarks.md from bench results; the table formatting; the SVG charts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench.doc import benchmarks_markdown, main
from benchmarks.bench.report import SECTION8_KEYS, fmt, text_table
from benchmarks.bench.svg import Series, bar_chart, histogram, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _result(name: str, rate: float) -> dict[str, Any]:
    return {
        "review_rate_per_1000": rate,
        "auto_receipt_accuracy": 0.99,
        "receipt_accuracy": 1.0,
        "item_f1": 0.998,
        "weight_events": {"f1": 0.97},
        "tracking": {"idf1": None},
        "actor_top1_accuracy": None,
        "p95_exit_to_receipt_s": 12.5,
        "cost_usd_per_1000_visits": 3.2,
        "events_lost": 0,
        "operating_curve": {
            "thresholds": [
                {"threshold": 0.9, "review_rate_per_1000": 100.0, "auto_receipt_error": 0.01}
            ]
        },
        "review_causes": {"by_event": {"who": 3, "what": 1}},
        "receipt_errors": {
            "auto": {"wrong": 3, "missing_only": 2, "extra_only": 0, "both": 1},
            "reviewed": {"wrong": 1, "missing_only": 0, "extra_only": 1, "both": 0},
            "no_receipt": 2,
            "audit": {
                "auto_flagged": 4,
                "auto_flagged_wrong": 2,
                "auto_unflagged": 30,
                "auto_unflagged_wrong": 1,
            },
        },
        "cost_breakdown": {"cost_usd_per_1000_visits": 3.2, "aws_usd_per_1000_visits": 1.1},
        "scenario": {"name": name, "seed": 11, "counts": {"sessions_true": 45}},
        "machine": {"cores": 2, "ram_gb": 23.5, "load_start": [4.0], "load_end": [5.0]},
        "date": "2026-11-26T04:00:00+00:00",
    }


def test_the_markdown_has_one_table_per_scenario_with_every_figure() -> None:
    text = benchmarks_markdown([_result("busy", 120.0), _result("stadium-rush", 80.0)])

    assert "## busy (seed 11)" in text and "## stadium-rush (seed 11)" in text
    for key in SECTION8_KEYS:
        assert text.count(f"| `{key}` |") == 2
    assert "| `review_rate_per_1000` | 120.0 | <= 20 |" in text
    assert "2 cores, 23.5 GB RAM, load [4.0]" in text
    assert "Review causes (events): who 3, what 1." in text
    assert (
        "Receipt errors: 3 wrong without review (only items missing 2, only items added 0,"
        " both 1); 1 wrong after review (only items missing 0, only items added 1, both 0);"
        " 2 visits without a receipt. Of the receipts issued without review, 4 were flagged"
        " for audit (a track most likely left as somebody from outside its session; 2 of them"
        " wrong), 30 were not (1 wrong)." in text
    )
    # A result from before the audit counts says nothing of them
    older = _result("busy", 120.0)
    del older["receipt_errors"]["audit"]
    assert "flagged for audit" not in benchmarks_markdown([older])
    # Only stadium-rush has a wall-time target; neither run timed out.
    assert text.count("| wall time of the run") == 1
    assert "timed out" not in text


def test_an_unfinished_run_is_marked_as_such_with_its_wall_time_against_the_target() -> None:
    result = _result("stadium-rush", 80.0)
    result["perception"] = {
        "gates": {
            "people": 1348,
            "people_bound_to_their_session": 326,
            "bound_at_birth": {"tracks": 1300, "right": 1090, "wrong": 200, "unjudged": 10},
            "bound_after_entry": {"tracks": 1300, "right": 1150, "wrong": 120, "unjudged": 30},
        },
        "session_top1_accuracy": 0.19,
        "ambiguity": {"events": 6215},
    }
    result["scenario"].update(
        {"finished": False, "timings_s": {"total_s": 3600.0, "last_receipt_s": 3500.5}}
    )

    text = benchmarks_markdown([result])

    assert "**This run timed out before the cloud settled**" in text
    assert "| wall time of the run, local cloud start to settled (s) | 3,600.0 | < 900 |" in text
    assert "| wall time, local cloud start to the last receipt (s) | 3,500.5 | < 900 |" in text
    assert "326 of 1,348 people bound to their own session" in text
    assert (
        "of 1,300 tracks the gates bound, 1,090 went to the session of the person they"
        " followed when born and 200 to another (10 with nobody near); judged by the person"
        " they followed 1.5 s after birth, 1,150 right and 120 wrong;" in text
    )


def test_main_writes_the_file_and_refuses_a_bad_result(tmp_path: Path) -> None:
    good = tmp_path / "busy.json"
    good.write_text(json.dumps(_result("busy", 1.0)))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = tmp_path / "benchmarks.md"

    assert main(["--out", str(out), str(good)]) == 0
    assert out.read_text().startswith("# Benchmarks")
    assert main(["--out", str(out), str(bad)]) == 2


def test_figures_are_formatted_for_people() -> None:
    assert [fmt(None), fmt(1.0), fmt(0.5), fmt(333.333333), fmt(1234), fmt(0.0)] == [
        "n/a",
        "1.0",
        "0.5",
        "333.3333",
        "1,234",
        "0.0",
    ]
    table = text_table(_result("busy", 5.0))
    assert table.splitlines()[0] == "walkout bench: busy (seed 11)"
    assert "tracking.idf1" in table and "n/a" in table


def test_charts_are_valid_svg_with_their_marks() -> None:
    line = ET.fromstring(
        line_chart(
            "curve",
            [Series("s", [(0.0, 0.1), (0.0, 0.1), (50.0, 0.0)], ["a", "b", "c"])],
            "x",
            "y",
        )
    )
    bars = ET.fromstring(bar_chart("causes", [("who", 3.0), ("what", 1.0)], "events"))
    hist = ET.fromstring(histogram("latency", [1.0, 2.0, 2.5, 9.0], "s", bins=4))

    assert len(line.findall(f"{SVG}circle")) == 3
    labels = {t.text for t in line.findall(f"{SVG}text")}
    assert "a" in labels and "b" not in labels  # the second label sits on the first point
    assert len(bars.findall(f"{SVG}rect")) == 2
    heights = [float(r.get("height", "0")) for r in hist.findall(f"{SVG}rect")]
    # bins of width 2 from 1 to 9: 3, 0, 0, 1 values
    assert heights[1] == heights[2] == 0.0
    assert heights[0] == pytest.approx(3 * heights[3], rel=0.01)


def test_charts_without_data_say_so() -> None:
    assert "no data" in histogram("latency", [], "s")
    assert "nothing to show" in bar_chart("causes", [], "events")
