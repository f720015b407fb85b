"""A picture of a recording for people: the floor plan with every trajectory and event, the
hard-case counts, and what the cameras saw at the busiest moment.

It reads only the recording folder (store.json, truth.json, recording.json, the videos), so
it works on any recording, not just one this process made.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from walkout.definition import StoreDefinition
from walkout.store import Store

PANEL_W = 430
THUMB_W = 380
FONT = cv2.FONT_HERSHEY_SIMPLEX


class PreviewError(ValueError):
    """The folder is not a readable recording."""


def _colour(key: str, bright: bool = True) -> tuple[int, int, int]:
    h = zlib.crc32(key.encode())
    hsv = np.array([[[h % 180, 150 + (h >> 8) % 100, 200 if bright else 120]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


class FloorPlan:
    def __init__(self, store: Store, width_px: int = 1100, height_px: int = 820) -> None:
        self.store = store
        self.scale = min(width_px / store.floor.width_m, height_px / store.floor.depth_m)
        self.margin = 30
        self.w = int(store.floor.width_m * self.scale) + 2 * self.margin
        self.h = int(store.floor.depth_m * self.scale) + 2 * self.margin

    def px(self, x: float, y: float) -> tuple[int, int]:
        # North is up in the picture.
        return (
            round(self.margin + x * self.scale),
            round(self.h - self.margin - y * self.scale),
        )


def _load(folder: Path) -> tuple[StoreDefinition, dict[str, Any], dict[str, Any]]:
    try:
        definition = StoreDefinition.load(folder / "store.json")
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        meta = json.loads((folder / "recording.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PreviewError(f"--recording {folder}: missing {Path(exc.filename).name}") from None
    except (ValidationError, json.JSONDecodeError) as exc:
        raise PreviewError(f"--recording {folder}: unreadable ({type(exc).__name__})") from None
    return definition, truth, meta


def _draw_plan(definition: StoreDefinition, truth: dict[str, Any]) -> np.ndarray:
    store = definition.store
    plan = FloorPlan(store)
    img = np.full((plan.h, plan.w, 3), 250, np.uint8)
    cv2.rectangle(
        img, plan.px(0, 0), plan.px(store.floor.width_m, store.floor.depth_m), (228, 230, 232), -1
    )
    cv2.rectangle(
        img, plan.px(0, 0), plan.px(store.floor.width_m, store.floor.depth_m), (60, 60, 60), 2
    )
    sku_of = definition.planogram.sku_by_lane()
    similar = {lid for pair in truth.get("similar_weight_lanes", []) for lid in pair["lane_ids"]}
    for cam in store.cameras:
        corners = [
            cam.image_to_floor(u, v, 1.75)
            for u, v in ((0, 0), (cam.resolution[0], cam.resolution[1]))
        ]
        if all(c is not None for c in corners):
            (x0, y0), (x1, y1) = corners  # type: ignore[misc]
            cv2.rectangle(img, plan.px(x0, y0), plan.px(x1, y1), (205, 190, 175), 1)
    for gate in store.gates:
        a = gate.area
        colour = (80, 170, 80) if gate.kind == "entry" else (70, 70, 200)
        cv2.rectangle(img, plan.px(a.x0, a.y0), plan.px(a.x1, a.y1), colour, -1)
        cv2.putText(
            img,
            gate.kind.upper(),
            plan.px(a.x0 + 0.05, a.y0 + 0.25),
            FONT,
            0.5,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    for shelf in store.shelves:
        r = shelf.footprint
        cv2.rectangle(img, plan.px(r.x0, r.y0), plan.px(r.x1, r.y1), (120, 120, 125), -1)
        depth = r.x1 - r.x0
        for lane in shelf.lanes:
            # Levels as three strips from the front (level 0) to the back (level 2).
            front = lane.front_center.x
            sign = -1 if shelf.facing.value == "east" else 1
            xa = front + sign * depth * lane.level / 3
            xb = front + sign * depth * (lane.level + 1) / 3
            y0, y1 = lane.front_center.y - lane.width_m / 2, lane.front_center.y + lane.width_m / 2
            colour = _colour(sku_of.get(lane.lane_id, lane.lane_id))
            p0, p1 = plan.px(min(xa, xb) + 0.01, y0 + 0.01), plan.px(max(xa, xb) - 0.01, y1 - 0.01)
            cv2.rectangle(img, p0, p1, colour, -1)
            if lane.lane_id in similar:
                cv2.rectangle(img, p0, p1, (0, 140, 255), 1)
        cv2.putText(
            img,
            shelf.shelf_id,
            plan.px(r.x0 + 0.02, r.y1 + 0.05),
            FONT,
            0.35,
            (60, 60, 60),
            1,
            cv2.LINE_AA,
        )
    for cam in store.cameras:
        x, y, _ = cam.position_m
        cv2.drawMarker(img, plan.px(x, y), (150, 90, 40), cv2.MARKER_TRIANGLE_UP, 14, 2)
    # Trajectories, one colour per session, drawn translucent.
    paths = np.zeros_like(img)
    mask = np.zeros(img.shape[:2], np.uint8)
    for person in truth["people"]:
        xy = person["trajectory"]["xy"]
        if len(xy) < 2:
            continue
        pts = np.array([plan.px(x, y) for x, y in xy[::2]], np.int32)
        cv2.polylines(
            paths, [pts], False, _colour(person["session_id"], bright=False), 1, cv2.LINE_AA
        )
        cv2.polylines(mask, [pts], False, 255, 1, cv2.LINE_AA)
    alpha = (mask.astype(np.float32) / 255 * 0.55)[..., None]
    img = (img * (1 - alpha) + paths * alpha).astype(np.uint8)
    lanes = store.lanes()
    picks = Counter(e["lane_id"] for e in truth["events"] if e["kind"] == "pick")
    for lane_id, n in picks.items():
        fc = lanes[lane_id].front_center
        radius = int(3 + 1.5 * np.sqrt(n))
        cv2.circle(img, plan.px(fc.x, fc.y), radius, (40, 160, 40), -1, cv2.LINE_AA)
        cv2.circle(img, plan.px(fc.x, fc.y), radius, (255, 255, 255), 1, cv2.LINE_AA)
    for e in truth["events"]:
        if e["kind"] == "return" and e.get("misplaced"):
            home = lanes.get(e.get("home_lane_id") or "")
            to = lanes[e["lane_id"]].front_center
            if home is not None:
                cv2.arrowedLine(
                    img, plan.px(home.front_center.x, home.front_center.y), plan.px(to.x, to.y),
                    (30, 30, 220), 2, cv2.LINE_AA, tipLength=0.15,
                )  # fmt: skip
            cv2.drawMarker(img, plan.px(to.x, to.y), (30, 30, 220), cv2.MARKER_TILTED_CROSS, 10, 2)
    for pair in truth.get("adjacent_reaches", []):
        fa, fb = (lanes[lid].front_center for lid in pair["lane_ids"])
        mid = plan.px((fa.x + fb.x) / 2, (fa.y + fb.y) / 2)
        cv2.circle(img, mid, 9, (0, 150, 255), 2, cv2.LINE_AA)
    tracks = {p["person_id"]: p for p in truth["people"]}

    def where(person_id: str, ts: float) -> tuple[float, float] | None:
        p = tracks.get(person_id)
        if p is None:
            return None
        tr = p["trajectory"]
        k = round((ts - tr["t0_ts"]) / tr["dt_s"])
        if 0 <= k < len(tr["xy"]):
            return tr["xy"][k][0], tr["xy"][k][1]
        return None

    merges = truth.get("merges", [])
    # Thousands of merges would paint the aisles yellow: show an even sample of 1,500.
    for m in merges[:: max(1, len(merges) // 1500)]:
        pa, pb = (where(pid, m["start_ts"]) for pid in m["person_ids"])
        if pa and pb:
            cv2.circle(
                img,
                plan.px((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2),
                3,
                (0, 210, 240),
                -1,
                cv2.LINE_AA,
            )
    for hnd in truth.get("handoffs", []):
        p = where(hnd["from_person"], hnd["ts"])
        if p:
            cv2.drawMarker(img, plan.px(*p), (200, 40, 200), cv2.MARKER_DIAMOND, 14, 2)
    cell_lane = {lane.load_cell.cell_id: lane for lane in lanes.values()}
    for k in truth.get("knocks", []):
        hit = [cell_lane[c].front_center for c in k["cells"] if c in cell_lane]
        if hit:
            x, y = sum(p.x for p in hit) / len(hit), sum(p.y for p in hit) / len(hit)
            cv2.drawMarker(img, plan.px(x, y), (20, 20, 20), cv2.MARKER_STAR, 14, 2)
    # Everyone inside at the busiest moment, as seen in the camera pictures below.
    _, ts = _busiest_tick(truth)
    for person in truth["people"]:
        at = where(person["person_id"], ts)
        if at is None:
            continue
        radius = max(3, round(person["shoulder_m"] / 2 * plan.scale))
        shirt_b, shirt_g, shirt_r = (int(c) for c in person["shirt_bgr"])
        colour = (shirt_b, shirt_g, shirt_r)
        cv2.circle(img, plan.px(*at), radius, colour, -1, cv2.LINE_AA)
        cv2.circle(img, plan.px(*at), radius, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(
            img, person["person_id"], plan.px(at[0] + 0.25, at[1] + 0.1), FONT, 0.38,
            (20, 20, 20), 1, cv2.LINE_AA,
        )  # fmt: skip
    return img


def _panel(truth: dict[str, Any], meta: dict[str, Any], height: int) -> np.ndarray:
    img = np.full((height, PANEL_W, 3), 250, np.uint8)
    y = 34

    def line(
        text: str, size: float = 0.5, colour: tuple[int, int, int] = (30, 30, 30), bold: int = 1
    ) -> None:
        nonlocal y
        cv2.putText(img, text, (16, y), FONT, size, colour, bold, cv2.LINE_AA)
        y += int(34 * size + 8)

    sessions = truth["sessions"]
    events = truth["events"]
    items = sum(sum(s["receipt"].values()) for s in sessions)
    line(f"scenario: {truth['scenario']}  (seed {truth['seed']})", 0.62, bold=2)
    line(f"{meta['duration_s'] / 60:.1f} min, {len(meta['cameras'])} cameras "
         f"{meta['cameras'][0]['resolution'][0]}x{meta['cameras'][0]['resolution'][1]} "
         f"@ {meta['cameras'][0]['fps']:g} fps")  # fmt: skip
    line(f"{len(sessions)} sessions, {len(truth['people'])} people, {items} items bought")
    line(f"{sum(1 for e in events if e['kind'] == 'pick')} picks, "
         f"{sum(1 for e in events if e['kind'] == 'return')} returns")  # fmt: skip
    y += 6
    line("hard cases", 0.58, bold=2)
    for key, value in sorted(truth["hard_cases"].items()):
        line(f"{key.replace('_', ' ')}: {value}", 0.46)
    y += 6
    line("legend", 0.58, bold=2)
    legend = [
        ("circle", (40, 160, 40), "picks at a lane (size = count)"),
        ("cross", (30, 30, 220), "misplaced return (arrow from home lane)"),
        ("ring", (0, 150, 255), "simultaneous adjacent reaches"),
        ("dot", (0, 210, 240), "merge: two people < 0.6 m apart (<= 1,500 shown)"),
        ("diamond", (200, 40, 200), "hand-over inside a group"),
        ("star", (20, 20, 20), "knock on a shelf"),
        ("box", (0, 140, 255), "lane with a near-identical weight"),
        ("tri", (150, 90, 40), "camera (box: view at head height)"),
        ("line", (120, 120, 120), "trajectories, a colour per session"),
        ("person", (90, 90, 200), "people at the busiest moment (below)"),
    ]
    for kind, colour, text in legend:
        c = (28, y - 5)
        if kind == "circle":
            cv2.circle(img, c, 6, colour, -1, cv2.LINE_AA)
        elif kind == "ring":
            cv2.circle(img, c, 7, colour, 2, cv2.LINE_AA)
        elif kind == "dot":
            cv2.circle(img, c, 3, colour, -1, cv2.LINE_AA)
        elif kind == "box":
            cv2.rectangle(img, (c[0] - 7, c[1] - 6), (c[0] + 7, c[1] + 6), colour, 2)
        elif kind == "person":
            cv2.circle(img, c, 7, colour, -1, cv2.LINE_AA)
            cv2.circle(img, c, 7, (0, 0, 0), 2, cv2.LINE_AA)
        elif kind == "line":
            cv2.line(img, (c[0] - 8, c[1]), (c[0] + 8, c[1]), colour, 1, cv2.LINE_AA)
        else:
            marker = {"cross": cv2.MARKER_TILTED_CROSS, "diamond": cv2.MARKER_DIAMOND,
                      "star": cv2.MARKER_STAR, "tri": cv2.MARKER_TRIANGLE_UP}[kind]  # fmt: skip
            cv2.drawMarker(img, c, colour, marker, 12, 2)
        cv2.putText(img, text, (46, y), FONT, 0.44, (40, 40, 40), 1, cv2.LINE_AA)
        y += 24
    return img


def _busiest_tick(truth: dict[str, Any]) -> tuple[int, float]:
    """The camera tick with the most people inside (and its time)."""
    dt = truth["trajectory_dt_s"]
    start = truth["start_ts"]
    n = round((truth["end_ts"] - start) / dt)
    count = np.zeros(max(n, 1), int)
    for p in truth["people"]:
        k0 = round((p["trajectory"]["t0_ts"] - start) / dt)
        count[k0 : k0 + len(p["trajectory"]["xy"])] += 1
    k = int(np.argmax(count))
    return k, start + k * dt


def _thumbnails(
    folder: Path, meta: dict[str, Any], truth: dict[str, Any], definition: StoreDefinition
) -> np.ndarray | None:
    tick, ts = _busiest_tick(truth)
    tracks = [(p["trajectory"], p) for p in truth["people"]]
    shots = []
    for cam_meta, cam in zip(meta["cameras"], definition.store.cameras, strict=False):
        frames = folder / cam_meta["frames"]
        video = folder / cam_meta["video"]
        if not frames.is_file() or not video.is_file():
            continue
        with frames.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        seqs = [int(r["seq"]) for r in rows]
        if not seqs:
            continue
        i = int(np.searchsorted(seqs, tick))
        i = min(i, len(seqs) - 1)
        seen = 0
        for tr, _ in tracks:
            k = round((ts - tr["t0_ts"]) / tr["dt_s"])
            if 0 <= k < len(tr["xy"]):
                uv = cam.floor_to_image(tr["xy"][k][0], tr["xy"][k][1], 1.6)
                if uv and 0 <= uv[0] < cam.resolution[0] and 0 <= uv[1] < cam.resolution[1]:
                    seen += 1
        shots.append((seen, cam.camera_id, video, i, rows[i]["ts"]))
    if not shots:
        return None
    shots.sort(key=lambda s: (-s[0], s[1]))
    tiles = []
    for seen, cam_id, video, i, stamp in sorted(shots[:4], key=lambda s: s[1]):
        cap = cv2.VideoCapture(str(video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        cap.release()
        if not ok:
            continue
        h = int(frame.shape[0] * THUMB_W / frame.shape[1])
        frame = cv2.resize(frame, (THUMB_W, h), interpolation=cv2.INTER_AREA)
        cv2.rectangle(frame, (0, 0), (THUMB_W, 22), (0, 0, 0), -1)
        cv2.putText(
            frame,
            f"{cam_id}  ts {stamp}  ({seen} people)",
            (6, 16),
            FONT,
            0.45,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
        tiles.append(frame)
    if not tiles:
        return None
    h = max(t.shape[0] for t in tiles)
    tiles = [
        cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 6, cv2.BORDER_CONSTANT, value=(250, 250, 250))
        for t in tiles
    ]
    return np.hstack(tiles)


def render_preview(folder: Path) -> np.ndarray:
    definition, truth, meta = _load(folder)
    plan = _draw_plan(definition, truth)
    panel = _panel(truth, meta, plan.shape[0])
    top = np.hstack([plan, panel])
    thumbs = _thumbnails(folder, meta, truth, definition)
    if thumbs is None:
        return top
    caption = np.full((30, top.shape[1], 3), 250, np.uint8)
    cv2.putText(
        caption,
        "what the cameras saw at the busiest moment",
        (16, 22),
        FONT,
        0.55,
        (30, 30, 30),
        1,
        cv2.LINE_AA,
    )
    if thumbs.shape[1] < top.shape[1]:
        thumbs = cv2.copyMakeBorder(
            thumbs,
            0,
            8,
            16,
            top.shape[1] - thumbs.shape[1] - 16,
            cv2.BORDER_CONSTANT,
            value=(250, 250, 250),
        )
    else:
        thumbs = cv2.resize(
            thumbs, (top.shape[1], int(thumbs.shape[0] * top.shape[1] / thumbs.shape[1]))
        )
    return np.vstack([top, caption, thumbs])


def write_preview(folder: Path, out: Path) -> None:
    if not folder.is_dir():
        raise PreviewError(f"--recording {folder}: no such folder")
    img = render_preview(folder)
    if out.suffix.lower() != ".png":
        raise PreviewError(f"--out {out}: must be a .png file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise PreviewError(f"--out {out}: cannot write")
