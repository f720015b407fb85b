"""Edge perception figures of a pipeline run: `walkout eval perception` on what the cloud got.

The events are the distinct `walkout.event/1` events the cloud received (delivered.jsonl,
redeliveries dropped by event_id; records that do not parse are counted, not scored). The
tracking figures need the edge's track log (`ts,track_id,x,y`); without one, `tracking.idf1`
and `actor_top1_accuracy` (which maps tracks to people through the IDF1 assignment) are
None and `notes` says why. Candidates no track followed are judged by where the edge saw
them (the log's `.unseen.csv`, when there is one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from walkout.events import EventError, parse_event
from walkout_cli.eval import evaluate, load_tracks, load_unseen


def distinct_events(delivered: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """Parsed distinct events in delivery order, and how many records did not parse."""
    seen: set[str] = set()
    events = []
    bad = 0
    for record in delivered:
        event_id = record.get("event_id")
        if event_id in seen:
            continue
        seen.add(str(event_id))
        try:
            events.append(parse_event(record))
        except EventError:
            bad += 1
    return events, bad


def perception_figures(
    truth: Mapping[str, Any], delivered: list[dict[str, Any]], tracks_csv: Path | None
) -> dict[str, Any]:
    events, unparsable = distinct_events(delivered)
    rows = load_tracks(tracks_csv) if tracks_csv is not None else None
    unseen_rows = load_unseen(tracks_csv) if tracks_csv is not None else None
    result = evaluate(dict(truth), events, rows, unseen_rows=unseen_rows)
    notes = []
    if rows is None:
        result["actor_top1_accuracy"] = None
        notes.append(
            "no edge track log in the run: tracking.idf1 and actor_top1_accuracy not measured"
        )
    weights = result["weight_events"]
    result["truth_events_undetected"] = int(weights["true"]) - int(weights["matched"])
    result["unparsable_events"] = unparsable
    result["tracks_csv"] = None if tracks_csv is None else str(tracks_csv)
    result["notes"] = notes
    return result
