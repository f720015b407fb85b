"""The bench result as a table (terminal, Markdown) and as a self-contained HTML report."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any, Final

from benchmarks.bench.svg import Series, bar_chart, histogram, line_chart

# DESIGN.md section 8, in its order; dots are nesting in the JSON.
SECTION8_KEYS: Final = (
    "review_rate_per_1000",
    "auto_receipt_accuracy",
    "receipt_accuracy",
    "item_f1",
    "weight_events.f1",
    "tracking.idf1",
    "actor_top1_accuracy",
    "p95_exit_to_receipt_s",
    "cost_usd_per_1000_visits",
    "events_lost",
)


def lookup(result: Mapping[str, Any], dotted: str) -> Any:
    node: Any = result
    for key in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.4f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)


def section8_rows(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, fmt(lookup(result, key))) for key in SECTION8_KEYS]


def text_table(result: Mapping[str, Any]) -> str:
    rows = section8_rows(result)
    width = max(len(k) for k, _ in rows)
    scenario = result.get("scenario") or {}
    head = f"walkout bench: {scenario.get('name')} (seed {scenario.get('seed')})"
    return "\n".join([head, *(f"  {k:<{width}}  {v}" for k, v in rows)])


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plots(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    curve = result.get("operating_curve") or {}
    rows = [
        r
        for r in curve.get("thresholds", [])
        if r.get("review_rate_per_1000") is not None and r.get("auto_receipt_error") is not None
    ]
    operating = line_chart(
        "Operating curve (one run)",
        [
            Series(
                "auto-receipt error",
                [(r["review_rate_per_1000"], r["auto_receipt_error"]) for r in rows],
                [f"t={r['threshold']:g}" for r in rows],
            )
        ],
        "sessions reviewed per 1,000",
        "share of auto receipts wrong",
    )
    bins = [b for b in (curve.get("reliability") or {}).get("bins", []) if b.get("sessions")]
    reliability = line_chart(
        "Reliability of session confidence",
        [
            Series(
                "share of pre-review receipts right",
                [(b["confidence"], b["right"]) for b in bins],
                [f"n={b['sessions']}" for b in bins],
            )
        ],
        "mean confidence in bin",
        "share right",
        diagonal=True,
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
    )
    causes = (result.get("review_causes") or {}).get("by_event") or {}
    cause_chart = bar_chart(
        "Review causes (events)", [(k, float(v)) for k, v in causes.items()], "events"
    )
    latency = histogram(
        "Exit to receipt issued",
        list((result.get("scenario") or {}).get("exit_to_receipt_s") or []),
        "seconds (wall, this machine)",
    )
    return [
        ("Operating curve", operating),
        ("Reliability diagram", reliability),
        ("Review causes", cause_chart),
        ("Latency", latency),
    ]


STYLE: Final = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
    "text-align:left}th{background:#f3f3f3}figure{display:inline-block;margin:0.5em}"
    "code{background:#f3f3f3;padding:1px 3px}"
)


def html_report(result: Mapping[str, Any]) -> str:
    """One HTML page with no external resources: the figures, plots and cost breakdown."""
    scenario = result.get("scenario") or {}
    machine = result.get("machine") or {}
    title = f"Walkout bench: {scenario.get('name')} (seed {scenario.get('seed')})"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Scored {escape(str(result.get('date')))}"
        + (f", run ended {escape(str(machine['run_ended']))}" if machine.get("run_ended") else "")
        + f"; machine: {escape(fmt(machine.get('cores')))} "
        f"cores, {escape(fmt(machine.get('ram_gb')))} GB RAM, load "
        f"{escape(str(machine.get('load_start')))} at the start, "
        f"{escape(str(machine.get('load_end')))} at the end.</p>",
        "<h2>Figures (DESIGN.md section 8)</h2>",
        _table(["figure", "value"], [[k, v] for k, v in section8_rows(result)]),
    ]
    counts = scenario.get("counts") or {}
    if counts:
        parts.append(
            _table(
                ["count", "value"],
                [[k, fmt(v)] for k, v in counts.items() if not isinstance(v, Mapping)],
            )
        )
    parts.append("<h2>Plots</h2>")
    for name, svg in _plots(result):
        parts.append(f"<figure>{svg}<figcaption>{escape(name)}</figcaption></figure>")
    curve = result.get("operating_curve") or {}
    parts.append("<h2>Operating curve</h2>")
    parts.append(
        f"<p>From the run's session confidences and the carts before review: "
        f"{fmt(curve.get('sessions_used'))} sessions with a confidence "
        f"({fmt(curve.get('no_confidence'))} without); the carts of "
        f"{fmt(curve.get('pre_review_unknown'))} reviewed sessions were not recorded before "
        f"review: they count in the review rate, not in the error (nor in the reliability "
        f"diagram).</p>"
    )
    parts.append(
        _table(
            [
                "threshold",
                "reviewed / 1,000",
                "auto receipts",
                "of which unknown",
                "auto-receipt error",
            ],
            [
                [
                    f"{r['threshold']:g}",
                    fmt(r["review_rate_per_1000"]),
                    fmt(r["auto_receipts"]),
                    fmt(r.get("auto_unknown")),
                    fmt(r["auto_receipt_error"]),
                ]
                for r in curve.get("thresholds", [])
            ],
        )
    )
    cost = result.get("cost_breakdown") or {}
    parts.append("<h2>Cost</h2>")
    parts.append(
        f"<p>Prices of {escape(str(cost.get('prices_region')))} dated "
        f"{escape(str(cost.get('prices_date')))} (docs/cost-model.md); "
        f"{fmt(cost.get('visits'))} visits; total {fmt(cost.get('total_usd'))} USD, "
        f"{fmt(cost.get('cost_usd_per_1000_visits'))} USD per 1,000 visits "
        f"(AWS alone {fmt(cost.get('aws_usd_per_1000_visits'))}).</p>"
    )
    parts.append(
        _table(
            ["service", "item", "quantity", "unit", "USD", "price"],
            [
                [
                    str(line["service"]),
                    str(line["item"]),
                    fmt(line["quantity"]),
                    str(line["unit"]),
                    f"{line['usd']:.6f}",
                    str(line.get("price_evidence")),
                ]
                for line in cost.get("lines", [])
            ],
        )
    )
    for note in cost.get("notes", []):
        parts.append(f"<p><em>{escape(str(note))}</em></p>")
    perception = result.get("perception") or {}
    parts.append("<h2>Perception</h2>")
    weights = perception.get("weight_events") or {}
    parts.append(
        _table(
            ["figure", "value"],
            [
                ["weight_events.precision", fmt(weights.get("precision"))],
                ["weight_events.recall", fmt(weights.get("recall"))],
                [
                    "truth picks/returns never detected",
                    fmt(perception.get("truth_events_undetected")),
                ],
                ["session_top1_accuracy", fmt(perception.get("session_top1_accuracy"))],
            ],
        )
    )
    for note in perception.get("notes", []):
        parts.append(f"<p><em>{escape(str(note))}</em></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
