"""Overhead camera images: what each camera of the store sees at each tick.

Everything is projected through the camera's own calibration (the one in `store.json`), so
perspective is right: a shopper's head is drawn at head height, shoulders at shoulder
height, and people near the edge of a view lean outwards as real ones do. The static part
(floor tiles, gate markings, shelves with their products) is drawn once per camera; each
frame copies it, draws the people (legs, torso, shoulders with clothing pattern, head, an
arm when reaching) with OpenCV primitives, scales brightness (lighting drift) and adds
sensor noise from a small precomputed bank.

Known simplifications: shelves never hide people (people are drawn over them), no shadows,
no lens distortion (the cameras are taken as rectified).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from simulator.layout import SHELF_TOP_M, facing_normal
from simulator.world import Appearance, PersonTrack, World
from walkout.store import Camera, Facing, Shelf

NOISE_BANK = 6
SHIFT = 4  # sub-pixel bits for cv2 drawing
ONE = 1 << SHIFT
REACH_INTO_SHELF_M = 0.12


@dataclass(frozen=True)
class Reach:
    start: float
    end: float
    target: tuple[float, float, float]


def _reaches(world: World) -> dict[str, list[Reach]]:
    """Per person, every interval in which an arm is out (into a lane or to a group-mate)."""
    lanes = world.definition.store.lanes()
    shelf_of = world.definition.store.shelf_of()
    out: dict[str, list[Reach]] = {}
    for e in world.events:
        lane = lanes[e.lane_id]
        nx, ny = facing_normal(shelf_of[e.lane_id].facing)
        target = (
            lane.front_center.x - nx * REACH_INTO_SHELF_M,
            lane.front_center.y - ny * REACH_INTO_SHELF_M,
            lane.height_m + 0.1,
        )
        out.setdefault(e.person_id, []).append(Reach(e.reach_start, e.reach_end, target))
    tracks = {p.person_id: p for p in world.people}
    for hnd in world.handoffs:
        giver, taker = tracks.get(hnd.from_person), tracks.get(hnd.to_person)
        if giver is None or taker is None:
            continue
        k = taker.index(int(hnd.t / world.dt))
        if k is None:
            continue
        gx, gy = taker.xy[k]
        out.setdefault(hnd.from_person, []).append(Reach(hnd.t - 0.6, hnd.t + 0.4, (gx, gy, 1.05)))
    for reaches in out.values():
        reaches.sort(key=lambda r: r.start)
    return out


class Projector:
    """Store-frame points to pixels for one camera (vectorised pinhole model)."""

    def __init__(self, camera: Camera) -> None:
        k = camera.intrinsics
        self.k = np.array([[k.fx, 0, k.cx], [0, k.fy, k.cy], [0, 0, 1]], dtype=float)
        self.r = np.array(camera.rotation, dtype=float)
        self.c = np.array(camera.position_m, dtype=float)
        self.f = k.fx
        # Plain floats for the per-point path (numpy scalars are slow one at a time).
        self._m = tuple(float(v) for v in self.r.ravel())
        self._c = (float(self.c[0]), float(self.c[1]), float(self.c[2]))
        self._k = (float(k.fx), float(k.fy), float(k.cx), float(k.cy))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        cam = (np.asarray(points, dtype=float) - self.c) @ self.r.T
        z = np.maximum(cam[:, 2:3], 1e-6)
        pixels: np.ndarray = (cam[:, :2] / z) @ self.k[:2, :2].T + self.k[:2, 2]
        return pixels

    def point(self, x: float, y: float, z: float) -> tuple[float, float]:
        m00, m01, m02, m10, m11, m12, m20, m21, m22 = self._m
        px, py, pz = self._c
        fx, fy, cx, cy = self._k
        dx, dy, dz = x - px, y - py, z - pz
        depth = max(m20 * dx + m21 * dy + m22 * dz, 1e-6)
        return (
            fx * (m00 * dx + m01 * dy + m02 * dz) / depth + cx,
            fy * (m10 * dx + m11 * dy + m12 * dz) / depth + cy,
        )

    def scale(self, z: float) -> float:
        """Pixels per metre for something at height z straight below the camera."""
        return self._k[0] / max(self._c[2] - z, 0.05)


def _scaled(colour: tuple[int, int, int], gain: float) -> tuple[int, int, int]:
    return (
        min(255, int(colour[0] * gain + 0.5)),
        min(255, int(colour[1] * gain + 0.5)),
        min(255, int(colour[2] * gain + 0.5)),
    )


def _lit(look: Appearance, gain: float) -> Appearance:
    if gain == 1.0:
        return look
    return dataclasses.replace(
        look,
        shirt=_scaled(look.shirt, gain),
        accent=_scaled(look.accent, gain),
        hair=_scaled(look.hair, gain),
        skin=_scaled(look.skin, gain),
        trousers=_scaled(look.trousers, gain),
    )


def _fx(p: tuple[float, float]) -> tuple[int, int]:
    return int(p[0] * ONE + 0.5), int(p[1] * ONE + 0.5)


def _poly(
    img: np.ndarray, proj: Projector, pts: list[tuple[float, float, float]], colour: tuple[int, ...]
) -> None:
    px = np.round(proj(np.array(pts)) * ONE).astype(np.int64)
    if np.abs(px).max() > 2**28:
        return
    cv2.fillConvexPoly(img, px.astype(np.int32), colour, cv2.LINE_AA, SHIFT)


class CameraRenderer:
    def __init__(self, world: World, camera_index: int) -> None:
        self.world = world
        self.camera = world.definition.store.cameras[camera_index]
        self.plan = world.cameras[camera_index]
        self.proj = Projector(self.camera)
        self.width, self.height = self.camera.resolution
        self.background = self._background()
        self.reaches = _reaches(world)
        self._reach_starts = {pid: [r.start for r in rs] for pid, rs in self.reaches.items()}
        sigma = world.scenario.cameras.noise_sigma
        rng = np.random.default_rng(self.plan.noise_seed)
        self.noise: list[tuple[np.ndarray, np.ndarray]] = []
        if sigma > 0:
            for _ in range(NOISE_BANK):
                n = rng.normal(0, sigma, (self.height, self.width, 3)).astype(np.float32)
                self.noise.append(
                    (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
                )
        self.rng = rng
        self._lit: dict[int, np.ndarray] = {}

    # ---- static scene ---------------------------------------------------------------
    def _background(self) -> np.ndarray:
        w, h = self.width, self.height
        store = self.world.definition.store
        hom = np.array(self.camera.floor_homography(0.0))
        u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        q = hom @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
        x, y = (q[0] / q[2]).reshape(h, w), (q[1] / q[2]).reshape(h, w)
        tile = 0.6
        ti, tj = np.floor(x / tile).astype(int), np.floor(y / tile).astype(int)
        shade = np.random.default_rng(7).normal(0, 6, (64, 64))[ti % 64, tj % 64]
        img = np.empty((h, w, 3), dtype=np.float32)
        for ch, base in enumerate((168.0, 176.0, 178.0)):
            img[..., ch] = base + shade
        fx, fy = x / tile - ti, y / tile - tj
        grout = (np.minimum(fx, 1 - fx) < 0.025) | (np.minimum(fy, 1 - fy) < 0.025)
        img[grout] *= 0.78
        for gate in store.gates:
            a = gate.area
            inside = (x >= a.x0) & (x <= a.x1) & (y >= a.y0) & (y <= a.y1)
            colour = (90, 170, 90) if gate.kind == "entry" else (80, 90, 190)
            img[inside] = img[inside] * 0.4 + np.array(colour, dtype=np.float32) * 0.6
        outside = (x < 0) | (y < 0) | (x > store.floor.width_m) | (y > store.floor.depth_m)
        img[outside] = (62, 66, 74)
        # Lens fall-off: corners a little darker.
        r2 = ((u - w / 2) ** 2 + (v - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        img *= (1 - 0.22 * r2)[..., None]
        out = np.clip(img, 0, 255).astype(np.uint8)
        cx, cy = self.proj.c[0], self.proj.c[1]
        far_first = sorted(
            store.shelves,
            key=lambda s: -math.hypot(s.footprint.center.x - cx, s.footprint.center.y - cy),
        )
        for shelf in far_first:
            self._shelf(out, shelf)
        return out

    def _shelf(self, img: np.ndarray, shelf: Shelf) -> None:
        r, top = shelf.footprint, SHELF_TOP_M
        cx, cy = self.proj.c[0], self.proj.c[1]
        metal = (118, 122, 128)
        faces = (
            (Facing.WEST, cx < r.x0, [(r.x0, r.y0), (r.x0, r.y1)]),
            (Facing.EAST, cx > r.x1, [(r.x1, r.y0), (r.x1, r.y1)]),
            (Facing.SOUTH, cy < r.y0, [(r.x0, r.y0), (r.x1, r.y0)]),
            (Facing.NORTH, cy > r.y1, [(r.x0, r.y1), (r.x1, r.y1)]),
        )
        for facing, visible, ((ax, ay), (bx, by)) in faces:
            if not visible:
                continue
            _poly(img, self.proj, [(ax, ay, 0), (bx, by, 0), (bx, by, top), (ax, ay, top)], metal)
            if facing == shelf.facing:
                self._products(img, shelf)
        _poly(
            img,
            self.proj,
            [(r.x0, r.y0, top), (r.x1, r.y0, top), (r.x1, r.y1, top), (r.x0, r.y1, top)],
            (196, 200, 204),
        )
        pts = np.round(
            self.proj(
                np.array(
                    [(r.x0, r.y0, top), (r.x1, r.y0, top), (r.x1, r.y1, top), (r.x0, r.y1, top)]
                )
            )
            * ONE
        )
        cv2.polylines(img, [pts.astype(np.int32)], True, (90, 94, 100), 1, cv2.LINE_AA, SHIFT)

    def _products(self, img: np.ndarray, shelf: Shelf) -> None:
        """Each lane's packs as a coloured band on the shelf front, boards between levels."""
        sku_of = self.world.definition.planogram.sku_by_lane()
        nx, _ = facing_normal(shelf.facing)
        x = shelf.footprint.x1 if nx > 0 else shelf.footprint.x0
        x_in = x - nx * 0.02
        for lane in shelf.lanes:
            y0 = lane.front_center.y - lane.width_m / 2 + 0.01
            y1 = lane.front_center.y + lane.width_m / 2 - 0.01
            z0, z1 = lane.height_m, lane.height_m + 0.28
            colour = (
                self.world.products[sku_of[lane.lane_id]].colour_bgr
                if lane.lane_id in sku_of
                else (90, 90, 90)
            )
            _poly(
                img,
                self.proj,
                [(x_in, y0, z0), (x_in, y1, z0), (x_in, y1, z1), (x_in, y0, z1)],
                colour,
            )
        for z in {lane.height_m for lane in shelf.lanes}:
            r = shelf.footprint
            _poly(
                img,
                self.proj,
                [(x, r.y0, z - 0.03), (x, r.y1, z - 0.03), (x, r.y1, z), (x, r.y0, z)],
                (70, 72, 76),
            )

    # ---- people ---------------------------------------------------------------------
    def _arm_target(
        self, person_id: str, t: float
    ) -> tuple[tuple[float, float, float], float] | None:
        starts = self._reach_starts.get(person_id)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t) - 1
        while i >= 0:
            r = self.reaches[person_id][i]
            if r.start <= t <= r.end:
                span = r.end - r.start
                ext = min(1.0, (t - r.start) / (0.4 * span), (r.end - t) / (0.4 * span))
                return r.target, max(0.0, ext)
            if r.end < t - 5:
                break
            i -= 1
        return None

    def _person(self, img: np.ndarray, p: PersonTrack, k: int, t: float, gain: float) -> None:
        look: Appearance = _lit(p.appearance, gain)
        proj = self.proj
        x, y = float(p.xy[k, 0]), float(p.xy[k, 1])
        th = float(p.heading[k])
        ch, sh = math.cos(th), math.sin(th)
        hgt = look.height_m
        z_sh = 0.81 * hgt
        foot, hip, shoulder = proj.point(x, y, 0.05), proj.point(x, y, 0.92), proj.point(x, y, z_sh)
        lw = max(2, round(0.26 * proj.scale(0.5)))
        cv2.line(img, _fx(foot), _fx(hip), look.trousers, lw, cv2.LINE_8, SHIFT)
        cv2.line(
            img,
            _fx(hip),
            _fx(shoulder),
            look.shirt,
            max(2, round(0.34 * proj.scale(1.1))),
            cv2.LINE_8,
            SHIFT,
        )
        # Shoulders: an ellipse across the body, perpendicular to the heading.
        half = look.shoulder_m / 2
        side = proj.point(x - sh * half, y + ch * half, z_sh)
        du, dv = side[0] - shoulder[0], side[1] - shoulder[1]
        major = math.hypot(du, dv)
        minor = 0.115 * proj.scale(z_sh)
        angle = math.degrees(math.atan2(dv, du))
        axes = (round(major * ONE), round(minor * ONE))
        cv2.ellipse(img, _fx(shoulder), axes, angle, 0, 360, look.shirt, -1, cv2.LINE_AA, SHIFT)
        if look.pattern == 1:
            for off in (-0.45, 0.0, 0.45):
                a = proj.point(
                    x - sh * half * 0.8 + ch * 0.1 * off,
                    y + ch * half * 0.8 + sh * 0.1 * off,
                    z_sh + 0.01,
                )
                b = proj.point(
                    x + sh * half * 0.8 + ch * 0.1 * off,
                    y - ch * half * 0.8 + sh * 0.1 * off,
                    z_sh + 0.01,
                )
                cv2.line(
                    img,
                    _fx(a),
                    _fx(b),
                    look.accent,
                    max(1, round(0.03 * proj.scale(z_sh))),
                    cv2.LINE_8,
                    SHIFT,
                )
        elif look.pattern == 2:
            cv2.ellipse(
                img, _fx(shoulder), axes, angle, 0, 180, look.accent, -1, cv2.LINE_AA, SHIFT
            )
        elif look.pattern == 3:
            back = proj.point(x - ch * 0.17, y - sh * 0.17, z_sh - 0.05)
            size = (round(0.15 * proj.scale(z_sh) * ONE), round(0.08 * proj.scale(z_sh) * ONE))
            cv2.ellipse(img, _fx(back), size, angle, 0, 360, look.accent, -1, cv2.LINE_AA, SHIFT)
        arm = self._arm_target(p.person_id, t)
        if arm is not None:
            (tx, ty, tz), ext = arm
            # The arm on the side nearer the target, from the shoulder towards it.
            right = (sh * (tx - x) - ch * (ty - y)) > 0
            sgn = 1 if right else -1
            sx, sy = x + sgn * sh * half * 0.85, y - sgn * ch * half * 0.85
            hx, hy, hz = sx + (tx - sx) * ext, sy + (ty - sy) * ext, z_sh + (tz - z_sh) * ext
            a, b = proj.point(sx, sy, z_sh), proj.point(hx, hy, hz)
            cv2.line(
                img,
                _fx(a),
                _fx(b),
                look.shirt,
                max(2, round(0.085 * proj.scale(hz))),
                cv2.LINE_AA,
                SHIFT,
            )
            cv2.circle(
                img, _fx(b), round(0.05 * proj.scale(hz) * ONE), look.skin, -1, cv2.LINE_AA, SHIFT
            )
        head_z = hgt - 0.11
        head = proj.point(x, y, head_z)
        front = proj.point(x + ch * 0.1, y + sh * 0.1, head_z)
        hangle = math.degrees(math.atan2(front[1] - head[1], front[0] - head[0]))
        s = proj.scale(head_z)
        cv2.ellipse(
            img,
            _fx(head),
            (round(0.105 * s * ONE), round(0.085 * s * ONE)),
            hangle,
            0,
            360,
            look.hair,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
        face = proj.point(x + ch * 0.055, y + sh * 0.055, head_z - 0.03)
        cv2.ellipse(
            img,
            _fx(face),
            (round(0.05 * s * ONE), round(0.06 * s * ONE)),
            hangle,
            0,
            360,
            look.skin,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )

    def visible(self, p: PersonTrack, k: int) -> bool:
        u, v = self.proj.point(float(p.xy[k, 0]), float(p.xy[k, 1]), 1.0)
        margin = 0.6 * self.proj.scale(1.0)
        return -margin <= u <= self.width + margin and -margin <= v <= self.height + margin

    def _lit_background(self, level: int) -> np.ndarray:
        """The background at brightness `level`/256, cached (lighting changes slowly)."""
        bg = self._lit.get(level)
        if bg is None:
            if len(self._lit) > 64:
                self._lit.clear()
            bg = (
                self.background
                if level == 256
                else cv2.convertScaleAbs(self.background, alpha=level / 256)
            )
            self._lit[level] = bg
        return bg

    def render(self, tick: int, people: list[PersonTrack], noise: bool = True) -> np.ndarray:
        # Lighting scales the whole scene: the background from a cache, people by colour.
        gain = float(self.plan.gain[tick]) if tick < len(self.plan.gain) else 1.0
        level = round(gain * 256)
        img = self._lit_background(level).copy()
        t = tick * self.world.dt
        cx, cy, cz = self.proj.c
        here = []
        for p in people:
            k = p.index(tick)
            if k is not None and self.visible(p, k):
                dx, dy = p.xy[k, 0] - cx, p.xy[k, 1] - cy
                here.append(
                    (-(dx * dx + dy * dy + (cz - p.appearance.height_m) ** 2), p.person_id, p, k)
                )
        for _, _, p, k in sorted(here, key=lambda item: (item[0], item[1])):
            self._person(img, p, k, t, level / 256)
        if noise and self.noise:
            pos, neg = self.noise[int(self.rng.integers(len(self.noise)))]
            cv2.add(img, pos, img)
            cv2.subtract(img, neg, img)
        return img
