"""`walkout bench`: the JSON keys, the HTML report, and one readable line for bad input."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from bench_support import receipt, session, shelf_changed, truth_doc, write_run

from benchmarks.bench.report import SECTION8_KEYS, html_report
from walkout_cli.main import main

EXTRA_KEYS = {
    "operating_curve",
    "perception",
    "cost_breakdown",
    "review_causes",
    "receipt_errors",
    "scenario",
    "machine",
    "date",
}


def _workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "work"
    recording = workdir / "recording"
    recording.mkdir(parents=True)
    truth = truth_doc({"s1": {"sku-1": 1, "sku-2": 1}, "s2": {"sku-3": 1}})
    (recording / "truth.json").write_text(json.dumps(truth))
    write_run(
        workdir,
        sessions=[
            session("s1", confidence=0.99),
            session("s2", confidence=0.5, reviewed=True, causes=("low_confidence",)),
        ],
        receipts=[
            receipt("s1", {"sku-1": 1, "sku-2": 1}),
            receipt("s2", {"sku-3": 1}, reviewed=True, issued_wall=105.0),
        ],
        reviews=[
            {
                "task_id": "t1",
                "session_id": "s2",
                "backend": "console",
                "events": [{"event_id": "x", "cause": "low_confidence"}],
                "created_wall": 101.0,
                "answered_wall": 102.0,
                "answers_wrong": 0,
            }
        ],
        delivered=[shelf_changed(0, "lane-1", 10.0), shelf_changed(1, "lane-2", 20.0)],
    )
    return workdir


def _bench(*args: str) -> int:
    return main(["bench", *args])


def test_score_only_writes_exactly_the_section_8_keys_and_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _workdir(tmp_path)
    out = tmp_path / "out.json"

    code = _bench(
        "--scenario", "demo", "--workdir", str(workdir), "--json", str(out), "--score-only"
    )

    assert code == 0
    result = json.loads(out.read_text())
    top = {key.split(".")[0] for key in SECTION8_KEYS}
    assert set(result) == top | EXTRA_KEYS
    assert result["weight_events"] == {"f1": 1.0}  # both true picks matched on their lanes
    assert set(result["tracking"]) == {"idf1"}
    assert result["receipt_accuracy"] == 1.0
    assert result["review_rate_per_1000"] == 500.0
    assert result["events_lost"] == 0
    assert result["actor_top1_accuracy"] is None  # no track log in the run
    printed = capsys.readouterr().out
    for key in SECTION8_KEYS:
        assert key in printed
    assert (workdir / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "no-such-scenario"], "no such file or bundled scenario"),
        (["--scenario", "demo", "--recording", "/nonexistent/rec"], "no such folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = _bench(*args, "--json", str(tmp_path / "o.json"))

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert err.startswith("walkout bench:")


def test_a_recording_of_another_scenario_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _workdir(tmp_path)

    code = _bench(
        "--scenario",
        "busy",
        "--recording",
        str(workdir / "recording"),
        "--workdir",
        str(workdir),
        "--json",
        str(tmp_path / "o.json"),
        "--score-only",
    )

    assert code == 2
    assert "a recording of scenario 'demo', not 'busy'" in capsys.readouterr().err


def test_score_only_without_a_run_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _workdir(tmp_path)
    for f in (workdir / "run").iterdir():
        f.unlink()
    (workdir / "run").rmdir()

    code = _bench(
        "--scenario",
        "demo",
        "--workdir",
        str(workdir),
        "--json",
        str(tmp_path / "o.json"),
        "--score-only",
    )

    assert code == 2
    assert "no run folder" in capsys.readouterr().err


def test_a_bad_reviewer_error_rate_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        _bench("--scenario", "demo", "--json", "o.json", "--reviewer-error-rate", "1.5")

    assert exc.value.code == 2
    assert "not between 0 and 1" in capsys.readouterr().err


class _Checker(HTMLParser):
    """Fails on a closing tag that does not match the open one (void elements aside)."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def test_the_report_is_balanced_html_with_four_valid_svg_plots(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    out = tmp_path / "out.json"
    assert (
        _bench("--scenario", "demo", "--workdir", str(workdir), "--json", str(out), "--score-only")
        == 0
    )
    result = json.loads(out.read_text())

    page = html_report(result)

    checker = _Checker()
    checker.feed(page)
    assert checker.stack == []
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) == 4
    titles = [ET.fromstring(svg).findtext("{http://www.w3.org/2000/svg}title") for svg in svgs]
    assert titles == [
        "Operating curve (one run)",
        "Reliability of session confidence",
        "Review causes (events)",
        "Exit to receipt issued",
    ]
    assert "<circle" in svgs[0] and "<rect" in svgs[2] and "<rect" in svgs[3]
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_score_only_reports_the_machine_of_the_run_when_it_was_kept(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    kept = {"cores": 2, "ram_gb": 8.0, "load_start": [7.5], "load_end": [9.0], "run_ended": "x"}
    (workdir / "machine.json").write_text(json.dumps(kept))
    out = tmp_path / "out.json"

    code = _bench(
        "--scenario", "demo", "--workdir", str(workdir), "--json", str(out), "--score-only"
    )

    assert code == 0
    assert json.loads(out.read_text())["machine"] == kept
