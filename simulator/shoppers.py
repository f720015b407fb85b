"""Shoppers: arrivals, groups, walking, picking, putting back, handing over, leaving.

A fixed-step simulation at the camera rate (with sub-steps of at most 0.125 s). Each shopper
follows a distance field on the floor grid towards a goal and avoids the others locally;
a step is taken only if it keeps the shopper's body clear of every other body and every
shelf, so nobody ever overlaps. At a lane a shopper stands still while lingering and
reaching; the weight change happens at a definite moment inside the reach.

Stock is reserved when a shopper decides to pick (so nobody takes from an empty lane) and
a returned unit becomes available only once it is physically back on the lane.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.layout import facing_normal
from simulator.merges import MergeTracker
from simulator.navigation import FloorGrid
from simulator.people import Agent, Task, Unit, new_appearance
from simulator.world import GateRecord, Handoff, PersonTrack, SessionRecord, ShelfEvent, World
from walkout.store import Store

MAX_SUBSTEP_S = 0.125
STAND_OFF_M = 0.35  # shopper's centre to the shelf front when reaching
REACH_READY_M = 0.6  # farthest centre-to-lane-front distance a shopper reaches from
GIVE_DISTANCE_M = 0.95
SPOT_OFFSETS_M = (0.0, -0.2, 0.2, -0.38, 0.38)
PATIENCE_S = 25.0
GATE_SPACING_S = 0.6  # a turnstile lets one person through at a time
TOGETHER_PROB = 0.5  # groups that shop side by side
# Shoppers are drawn to a shelf where someone is already looking (a busy shelf looks
# interesting): this share of picks moves next to a stranger's lane close by.
ATTRACT_PROB = 0.2
ATTRACT_RANGE_M = 5.0
# Step directions tried in turn when the straight one is blocked: right of way first.
_DETOURS = [
    (math.cos(a), math.sin(a), k)
    for a, k in ((0, 1), (-0.5, 1), (0.5, 1), (-1.0, 0.7), (1.0, 0.7), (-1.6, 0.5), (1.6, 0.5))
]  # a shopper blocked this long on the way to a lane gives that item up


@dataclass
class _Group:
    arrival_t: float
    size: int


class ShopperSim:
    def __init__(self, world: World, rng: np.random.Generator) -> None:
        self.world = world
        self.rng = rng
        self.spec = world.scenario.shoppers
        store: Store = world.definition.store
        self.store = store
        self.grid = FloorGrid(store)
        self.lanes = store.lanes()
        self.shelf_of = store.shelf_of()
        self.plan_sku = world.definition.planogram.sku_by_lane()
        self.exit_gate = next(g.area for g in store.gates if g.kind == "exit")
        self.stock: dict[str, list[Unit]] = {
            lane: [Unit(sku, g, lane) for sku, g in units]
            for lane, units in world.lane_initial.items()
        }
        # Popularity: a few lanes sell most (Zipf-like), so shoppers meet at the same shelves.
        ranks = rng.permutation(len(self.plan_sku))
        self.lane_ids = sorted(self.plan_sku)
        self.popularity = 1.0 / (ranks + 1.0) ** 0.5
        self.neighbours = {lid: store.neighbour_lanes(lid, 0.8) for lid in self.lane_ids}
        self.returns_due: list[tuple[float, int, str, Unit]] = []
        self.agents: list[Agent] = []
        self.inside: list[Agent] = []
        self.event_no = 0
        self.merges = MergeTracker()
        self._pos = np.zeros((0, 2))
        self._scanned: set[str] = set()
        self._radius = np.zeros(0)
        self.duration = world.n_ticks * world.dt
        # The doors close to newcomers before the end and everyone is asked out a little
        # later, so that (almost) every visit in the recording is complete.
        self.close_t = self.duration - min(max(0.1 * self.duration, 15.0), 60.0)
        self.last_arrival_t = self.duration - min(max(0.25 * self.duration, 20.0), 120.0)

    # ---- arrivals -------------------------------------------------------------------
    def _arrivals(self) -> list[_Group]:
        rate = self.spec.arrivals_per_hour / 3600.0
        sizes = list(self.spec.group_sizes)
        probs = np.array([self.spec.group_sizes[s] for s in sizes])
        groups: list[_Group] = []
        if rate <= 0:
            return groups
        # The doors open with someone waiting; after that arrivals are a Poisson process.
        t = float(self.rng.uniform(0.5, 3.0))
        while t < self.last_arrival_t:
            groups.append(_Group(t, int(sizes[int(self.rng.choice(len(sizes), p=probs))])))
            t += float(self.rng.exponential(1.0 / rate))
        return groups

    def _new_session(self, group: _Group, t: float) -> list[Agent]:
        n = len(self.world.sessions) + 1
        token = "".join(f"{int(b):02x}" for b in self.rng.integers(0, 256, 8))
        session = SessionRecord(f"s{n:05d}", f"acct-{token}", [], group.arrival_t, t, t, None)
        self.world.sessions.append(session)
        mean = self.spec.items_per_visit_mean
        stops = int(self.rng.poisson(mean)) if mean < 1 else 1 + int(self.rng.poisson(mean - 1))
        owner = self.rng.integers(0, group.size, size=stops)
        members = [self._new_agent(session, t) for _ in range(group.size)]
        lanes = self._choose_lanes(stops)
        # Some groups shop side by side: each member takes from the lane next to the one the
        # first member takes from, at the same time (no lingering) - neighbouring reaches.
        together = group.size > 1 and self.rng.random() < TOGETHER_PROB
        leader_tour: list[str] = []
        for m, agent in enumerate(members):
            mine = [lanes[i] for i in range(stops) if owner[i] == m]
            if mine and leader_tour and together:
                for j in range(len(mine)):
                    base = leader_tour[j % len(leader_tour)]
                    near = [lid for lid in self.neighbours[base] if self._available(lid) > 0]
                    if near:
                        mine[j] = near[int(self.rng.integers(len(near)))]
                agent.tasks = deque(Task("pick", lid, together=True) for lid in mine)
                continue
            tour = self._tour(mine)
            if tour and not leader_tour:
                leader_tour = tour
            agent.tasks = deque(Task("pick", lid, together=together) for lid in tour)
        with_items = [a for a in members if a.tasks]
        for agent in members:
            if not agent.tasks:
                partner = with_items[0].idx if with_items else None
                agent.tasks.append(Task("follow", partner=partner))
        if len(with_items) >= 1 and group.size > 1 and self.rng.random() < self.spec.handoff_prob:
            giver = with_items[int(self.rng.integers(len(with_items)))]
            others = [a for a in members if a is not giver]
            receiver = others[int(self.rng.integers(len(others)))]
            giver.tasks.insert(1, Task("handoff", partner=receiver.idx))
        for agent in members:
            agent.tasks.append(Task("exit"))
        # Whoever leads the shopping goes through the gate first; the others follow.
        members.sort(key=lambda a: (not a.tasks or a.tasks[0].kind == "follow", a.idx))
        return members

    def _new_agent(self, session: SessionRecord, t: float) -> Agent:
        rng = self.rng
        idx = len(self.agents)
        look = new_appearance(rng)
        agent = Agent(
            idx=idx,
            person_id=f"p{idx + 1:05d}",
            session=session,
            look=look,
            speed=float(rng.uniform(1.2, 1.4)),
            pos=np.array(self.world.entry_point, dtype=float),
            enter_t=t,
            tasks=deque(),
        )
        session.members.append(agent.person_id)
        self.agents.append(agent)
        return agent

    def _available(self, lane_id: str) -> int:
        return len(self.stock[lane_id])

    def _choose_lanes(self, n: int) -> list[str]:
        weights = np.array(
            [
                p if self._available(lid) > 0 else 0.0
                for lid, p in zip(self.lane_ids, self.popularity, strict=True)
            ]
        )
        if n == 0 or weights.sum() <= 0:
            return []
        n = min(n, int((weights > 0).sum()))
        picks = self.rng.choice(
            len(self.lane_ids), size=n, replace=False, p=weights / weights.sum()
        )
        return [self.lane_ids[int(i)] for i in picks]

    def _tour(self, lanes: list[str]) -> list[str]:
        """Visit order: always the nearest next lane from where the shopper is."""
        here = self.world.entry_point
        left, order = list(lanes), []
        while left:
            nxt = min(
                left,
                key=lambda lid: math.hypot(
                    self.lanes[lid].front_center.x - here[0],
                    self.lanes[lid].front_center.y - here[1],
                ),
            )
            left.remove(nxt)
            order.append(nxt)
            here = (self.lanes[nxt].front_center.x, self.lanes[nxt].front_center.y)
        return order

    # ---- geometry -------------------------------------------------------------------
    def _front(self, lane_id: str) -> tuple[float, float]:
        fc = self.lanes[lane_id].front_center
        return fc.x, fc.y

    def _lane_spot(self, agent: Agent, lane_id: str) -> tuple[float, float]:
        fx, fy = self._front(lane_id)
        nx, ny = facing_normal(self.shelf_of[lane_id].facing)
        tx, ty = -ny, nx
        fallback = None
        for off in SPOT_OFFSETS_M:
            sx, sy = fx + nx * STAND_OFF_M + tx * off, fy + ny * STAND_OFF_M + ty * off
            if not self.grid.is_free(sx, sy):
                continue
            if fallback is None:
                fallback = (sx, sy)
            gap = np.hypot(self._pos[:, 0] - sx, self._pos[:, 1] - sy)
            gap[agent.slot] = np.inf
            if (gap >= 0.5).all():
                return sx, sy
        return (
            fallback
            if fallback is not None
            else self.grid.nearest_free(fx + nx * 0.4, fy + ny * 0.4)
        )

    def _clear(self, agent: Agent, x: float, y: float) -> bool:
        if not self.grid.is_free(x, y):
            return False
        pos, radius = self._pos, self._radius
        gap2 = (pos[:, 0] - x) ** 2 + (pos[:, 1] - y) ** 2
        need = (radius + (agent.look.radius_m + 0.01)) ** 2
        gap2[agent.slot] = np.inf
        return bool((gap2 >= need).all())

    # ---- movement -------------------------------------------------------------------
    def _walk(
        self, agent: Agent, goal: tuple[float, float], h: float, moving: bool = False
    ) -> float:
        """One step towards `goal`; returns the remaining straight-line distance.

        A `moving` goal (another shopper) is planned to the nearest 0.4 m, so that following
        someone does not need a new distance field at every step."""
        gx, gy = goal
        px, py = float(agent.pos[0]), float(agent.pos[1])
        dist = math.hypot(gx - px, gy - py)
        if dist < 0.05:
            agent.vel[:] = 0
            return dist
        if dist < 0.4:
            d = ((gx - px) / dist, (gy - py) / dist)
        else:
            sx, sy = (
                (round(gx / 0.4) * 0.4 + 0.05, round(gy / 0.4) * 0.4 + 0.05) if moving else (gx, gy)
            )
            steer = self.grid.steer(self.grid.goal_key(sx, sy), px, py)
            d = steer if steer is not None else ((gx - px) / dist, (gy - py) / dist)
        speed = agent.speed * min(1.0, dist / 0.6 + 0.25)
        want = np.array(d) * speed
        # Local avoidance: ease away from close neighbours, keeping to the right of oncomers.
        off = agent.pos - self._pos
        sep = np.hypot(off[:, 0], off[:, 1])
        sep[agent.slot] = np.inf
        close = np.flatnonzero(sep < 1.4)
        if len(close):
            s = sep[close]
            unit = off[close] / np.maximum(s, 1e-6)[:, None]
            ahead = -(unit[:, 0] * d[0] + unit[:, 1] * d[1])
            keep = ahead >= -0.2
            if keep.any():
                push = 0.9 * (1.4 - s[keep]) / 1.4 * agent.speed
                want += 0.5 * (push[:, None] * unit[keep]).sum(axis=0)
                side = 0.5 * float((push * np.maximum(ahead[keep], 0)).sum())
                want += side * np.array([d[1], -d[0]])
        norm = float(np.hypot(*want))
        if norm > speed:
            want *= speed / norm
        vel = 0.5 * agent.vel + 0.5 * want
        moved = False
        for c, s_, scale in _DETOURS:
            vx = (vel[0] * c - vel[1] * s_) * scale
            vy = (vel[0] * s_ + vel[1] * c) * scale
            nx, ny = px + vx * h, py + vy * h
            if self._clear(agent, nx, ny):
                self._move(agent, nx, ny)
                agent.vel[:] = (vx, vy)
                moved = math.hypot(vx, vy) > 0.05
                break
        if not moved:
            agent.vel *= 0.3
            agent.blocked_s += h
            if agent.blocked_s > 3.0:
                # Break a stand-off: a small step in a random direction, if there is room.
                a = float(self.rng.uniform(0, 2 * math.pi))
                nx, ny = px + 0.05 * math.cos(a), py + 0.05 * math.sin(a)
                if self._clear(agent, nx, ny):
                    self._move(agent, nx, ny)
        else:
            agent.blocked_s = max(0.0, agent.blocked_s - h)
            agent.heading = math.atan2(agent.vel[1], agent.vel[0])
        return math.hypot(gx - agent.pos[0], gy - agent.pos[1])

    def _move(self, agent: Agent, x: float, y: float) -> None:
        agent.pos[0], agent.pos[1] = x, y
        self._pos[agent.slot] = (x, y)

    # ---- shelf actions --------------------------------------------------------------
    def _reach(self, agent: Agent, t: float, qty: int) -> tuple[float, float, float, float]:
        """(reach start, weight change, reach end, next free moment) for a reach at `t`."""
        start = t
        change = start + float(self.rng.uniform(0.45, 0.8)) + float(self.rng.uniform(0.25, 0.6))
        change += 0.35 * (qty - 1)
        end = change + float(self.rng.uniform(0.45, 0.8))
        return start, change, end, end + float(self.rng.uniform(0.2, 0.6))

    def _distance(self, agent: Agent, lane_id: str) -> float:
        fx, fy = self._front(lane_id)
        return round(math.hypot(agent.pos[0] - fx, agent.pos[1] - fy), 3)

    def _put(self, agent: Agent, lane_id: str, unit: Unit, t: float) -> float:
        start, change, end, free = self._reach(agent, t, 1)
        misplaced = self.plan_sku[lane_id] != unit.sku
        self._event(
            "return",
            agent,
            lane_id,
            sku=unit.sku,
            qty=1,
            change=change,
            start=start,
            end=end,
            grams=unit.grams,
            misplaced=misplaced,
            home=unit.from_lane,
        )
        heapq.heappush(
            self.returns_due, (change, self.event_no, lane_id, Unit(unit.sku, unit.grams, lane_id))
        )
        agent.holding.remove(unit)
        return free

    def _event(
        self,
        kind: str,
        agent: Agent,
        lane_id: str,
        *,
        sku: str,
        qty: int,
        change: float,
        start: float,
        end: float,
        grams: float,
        misplaced: bool = False,
        home: str | None = None,
        foreign: bool = False,
    ) -> None:
        self.event_no += 1
        self.world.events.append(
            ShelfEvent(
                event_id=f"e{self.event_no:06d}",
                kind=kind,
                person_id=agent.person_id,
                session_id=agent.session.session_id,
                lane_id=lane_id,
                sku=sku,
                qty=qty,
                t=round(change, 3),
                reach_start=round(start, 3),
                reach_end=round(end, 3),
                delta_g=round(grams if kind == "return" else -grams, 3),
                distance_m=self._distance(agent, lane_id),
                misplaced=misplaced,
                home_lane_id=home,
                foreign=foreign,
            )
        )

    def _stop_at_lane(self, agent: Agent, task: Task, t: float) -> None:
        """The shopper stands at a lane: drops off, lingers, picks, maybe puts back."""
        assert task.lane_id is not None
        lane = task.lane_id
        fx, fy = self._front(lane)
        agent.heading = math.atan2(fy - agent.pos[1], fx - agent.pos[0])
        agent.vel[:] = 0
        spec, rng = self.spec, self.rng
        t += float(rng.uniform(0.2, 0.5))
        latest = self.duration - 2.0
        for unit in list(agent.dump_next):
            agent.dump_next.remove(unit)
            if unit in agent.holding and t + 2 < latest:
                t = self._put(agent, lane, unit, t)
        if task.kind == "return_home":
            if task.unit in agent.holding and t + 2 < latest:
                t = self._put(agent, lane, task.unit, t)
            agent.busy_until = t
            return
        agent.at_lane = lane
        if not task.together and rng.random() < spec.linger_prob and t < self.close_t:
            t += float(rng.uniform(3.0, 12.0))
        units = self.stock[lane]
        if not units or t + 6 > latest:
            agent.busy_until = t + 0.5  # empty lane (or closing): look and move on
            return
        want = 1
        if rng.random() < spec.multi_pick_prob:
            want = 2 if rng.random() < 0.7 else 3
        plan = self.plan_sku[lane]
        foreign = units[0].sku != plan and (rng.random() < 0.5 or all(u.sku != plan for u in units))
        taken = [units[0]] if foreign else [u for u in units if u.sku == plan][:want]
        for u in taken:
            units.remove(u)
        start, change, end, t = self._reach(agent, t, len(taken))
        grams = sum(u.grams for u in taken)
        self._event(
            "pick",
            agent,
            lane,
            sku=taken[0].sku,
            qty=len(taken),
            change=change,
            start=start,
            end=end,
            grams=grams,
            foreign=foreign,
        )
        held = [Unit(u.sku, u.grams, lane) for u in taken]
        agent.holding.extend(held)
        if rng.random() < spec.put_back_prob:
            unit = held[-1]
            if rng.random() < 0.5:
                # Changes their mind at the shelf: back on the same lane, or the one beside it.
                t += float(rng.uniform(1.5, 4.0))
                target = lane
                near = [n for n in self.neighbours[lane] if n != lane]
                if near and rng.random() < spec.misplace_prob:
                    target = near[int(rng.integers(len(near)))]
                if t + 2 < latest:
                    t = self._put(agent, target, unit, t)
            elif rng.random() < spec.misplace_prob:
                agent.dump_next.append(unit)  # left on whichever shelf they stop at next
            else:
                pos = int(rng.integers(0, sum(1 for k in agent.tasks if k.kind == "pick") + 1))
                agent.tasks.insert(pos, Task("return_home", lane, unit))
        agent.busy_until = t

    # ---- one shopper, one step -------------------------------------------------------
    def _next_task(self, agent: Agent, t: float) -> Task:
        agent.at_lane = None
        if t >= self.close_t:
            # Closing: leave, except for putting back what one means to put back nearby.
            agent.tasks = deque(k for k in agent.tasks if k.kind == "exit")
            if not agent.tasks:
                agent.tasks.append(Task("exit"))
        task = agent.tasks.popleft()
        if task.kind == "pick" and task.lane_id is not None and self._available(task.lane_id) == 0:
            # Sold out meanwhile: pick the most similar lane that still has stock, if any.
            options = [n for n in self.neighbours[task.lane_id] if self._available(n) > 0]
            if options:
                task = Task("pick", options[0])
        if task.kind == "pick" and not task.together and self.rng.random() < ATTRACT_PROB:
            busy = [
                o
                for o in self.inside
                if o is not agent
                and o.at_lane is not None
                and o.busy_until > t + 2.0
                and math.hypot(o.pos[0] - agent.pos[0], o.pos[1] - agent.pos[1]) < ATTRACT_RANGE_M
            ]
            if busy:
                lane = busy[int(self.rng.integers(len(busy)))].at_lane
                assert lane is not None
                near = [n for n in self.neighbours[lane] if self._available(n) > 0]
                if near:
                    task = Task("pick", near[int(self.rng.integers(len(near)))])
        agent.task_walk_s = 0.0
        agent.spot = None
        return task

    def _step(self, agent: Agent, t: float, h: float) -> None:
        if agent.busy_until > t:
            return
        if agent.current is None:
            agent.current = self._next_task(agent, t)
        elif t >= self.close_t and agent.current.kind in ("pick", "return_home", "handoff"):
            agent.current = Task("exit")
        task = agent.current
        agent.task_walk_s += h
        if task.kind in ("pick", "return_home"):
            assert task.lane_id is not None
            fx, fy = self._front(task.lane_id)
            near = math.hypot(agent.pos[0] - fx, agent.pos[1] - fy)
            if agent.spot is None or (near < 2.0 and agent.blocked_s > 0.5):
                agent.spot = self._lane_spot(agent, task.lane_id)
            left = self._walk(agent, agent.spot, h)
            near = math.hypot(agent.pos[0] - fx, agent.pos[1] - fy)
            if near <= REACH_READY_M and (left < 0.12 or agent.blocked_s > 1.5):
                agent.current = None
                self._stop_at_lane(agent, task, t + h)
            elif agent.task_walk_s > PATIENCE_S + 30 or (agent.blocked_s > PATIENCE_S):
                agent.current = None  # gives up on this lane
                if task.unit is not None and task.unit in agent.holding:
                    agent.dump_next.append(task.unit)
        elif task.kind == "handoff":
            other = self.agents[task.partner] if task.partner is not None else None
            if other is None or not other.inside or not agent.holding or t >= self.close_t:
                agent.current = None
                return
            gap = math.hypot(other.pos[0] - agent.pos[0], other.pos[1] - agent.pos[1])
            if gap <= GIVE_DISTANCE_M:
                unit = agent.holding.pop()
                other.holding.append(unit)
                self.world.handoffs.append(
                    Handoff(
                        f"h{len(self.world.handoffs) + 1:05d}",
                        round(t + h, 3),
                        agent.session.session_id,
                        agent.person_id,
                        other.person_id,
                        unit.sku,
                        1,
                    )
                )
                agent.heading = math.atan2(other.pos[1] - agent.pos[1], other.pos[0] - agent.pos[0])
                agent.busy_until = t + h + 1.0
                agent.current = None
            elif agent.task_walk_s > PATIENCE_S:
                agent.current = None
            else:
                self._walk(agent, (float(other.pos[0]), float(other.pos[1])), h, moving=True)
        elif task.kind == "follow":
            lead = self.agents[task.partner] if task.partner is not None else None
            leaving = lead is None or (lead.entered and not lead.inside)
            if (
                leaving
                or t >= self.close_t
                or (lead is not None and lead.current is not None and lead.current.kind == "exit")
            ):
                agent.current = Task("exit")
                return
            assert lead is not None
            if not lead.entered:
                # Came in first: wait a few steps inside for the one they shop with.
                ex, ey = self.world.entry_point
                self._walk(agent, (ex + 0.3, ey + 1.6), h)
                return
            # Walk a step behind the one they shop with (so as not to stand in their way).
            back = 0.8
            tx = float(lead.pos[0]) - back * math.cos(lead.heading)
            ty = float(lead.pos[1]) - back * math.sin(lead.heading)
            if not self.grid.is_free(tx, ty):
                tx, ty = float(lead.pos[0]), float(lead.pos[1])
            if math.hypot(tx - agent.pos[0], ty - agent.pos[1]) > 0.35:
                self._walk(agent, (tx, ty), h, moving=True)
            else:
                agent.vel[:] = 0
                agent.heading = math.atan2(lead.pos[1] - agent.pos[1], lead.pos[0] - agent.pos[0])
        elif task.kind == "exit":
            agent.dump_next.clear()  # no shelf left on the way: they keep it after all
            if agent.exit_goal is None:
                # Each heads for their own spot across the gate, so nobody queues for one point.
                ex, ey = self.world.exit_point
                agent.exit_goal = (ex + float(self.rng.uniform(-0.3, 0.3)), ey - 0.1)
            self._walk(agent, agent.exit_goal, h)
            gate = self.exit_gate
            if (
                gate.contains(float(agent.pos[0]), float(agent.pos[1]))
                and agent.pos[1] < gate.y1 - 0.15
            ):
                agent.inside = False
                agent.exit_t = round(t + h, 3)
                self.world.gate_log.append(GateRecord(agent.exit_t, "exit-1", "exit"))

    # ---- the clock ------------------------------------------------------------------
    def _index_bodies(self) -> None:
        """Positions and radii of everyone inside as arrays (agents keep their slot)."""
        self._pos = np.array([a.pos for a in self.inside], dtype=float).reshape(-1, 2)
        self._radius = np.array([a.look.radius_m for a in self.inside], dtype=float)
        for slot, agent in enumerate(self.inside):
            agent.slot = slot

    def _entry_clear(self) -> bool:
        ex, ey = self.world.entry_point
        return all(math.hypot(a.pos[0] - ex, a.pos[1] - ey) >= 2 * 0.26 + 0.02 for a in self.inside)

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        world = self.world
        dt = world.dt
        sub = max(1, math.ceil(dt / MAX_SUBSTEP_S - 1e-9))
        h = dt / sub
        arrivals = deque(self._arrivals())
        waiting: deque[Agent] = deque()
        waiting_groups: deque[_Group] = deque()
        last_enter = -10.0
        for tick in range(world.n_ticks):
            t = tick * dt
            while arrivals and arrivals[0].arrival_t <= t:
                waiting_groups.append(arrivals.popleft())
            # The next group scans in when the store has room and the gate is clear.
            if not waiting and waiting_groups and t < self.close_t:
                g = waiting_groups[0]
                if len(self.inside) + g.size <= self.spec.max_concurrent or not self.inside:
                    waiting_groups.popleft()
                    waiting.extend(self._new_session(g, t))
            if waiting and t - last_enter >= GATE_SPACING_S and self._entry_clear():
                agent = waiting.popleft()
                agent.enter_t = round(t, 3)
                agent.first_tick = tick
                agent.entered = agent.inside = True
                if agent.session.session_id not in self._scanned:
                    self._scanned.add(agent.session.session_id)
                    # One scan at the gate, then every member of the group walks through.
                    agent.session.scan_t = round(max(0.0, t - 0.8), 3)
                    agent.session.enter_t = agent.enter_t
                    scan = GateRecord(
                        agent.session.scan_t, "entry-1", "scan", agent.session.account_ref
                    )
                    self.world.gate_log.append(scan)
                self.world.gate_log.append(GateRecord(agent.enter_t, "entry-1", "enter"))
                self.inside.append(agent)
                last_enter = t
            for agent in self.inside:
                agent.xy.append((float(agent.pos[0]), float(agent.pos[1])))
                agent.headings.append(agent.heading)
            world.merges.extend(self.merges.track(t, self.inside))
            for s in range(sub):
                ts = t + s * h
                while self.returns_due and self.returns_due[0][0] <= ts:
                    _, _, lane_id, unit = heapq.heappop(self.returns_due)
                    self.stock[lane_id].insert(0, unit)
                self._index_bodies()
                for agent in self.inside:
                    self._step(agent, ts, h)
                self.inside = [a for a in self.inside if a.inside]
            if progress is not None and tick % 200 == 0:
                progress(tick / world.n_ticks)
        world.merges.extend(self.merges.close())
        world.queue_left_unserved = len(waiting_groups) + len(arrivals)
        self._finish()

    def _finish(self) -> None:
        world = self.world
        for agent in self.agents:
            if not agent.xy:
                continue  # never got in before closing
            world.people.append(
                PersonTrack(
                    person_id=agent.person_id,
                    session_id=agent.session.session_id,
                    appearance=agent.look,
                    first_tick=agent.first_tick,
                    xy=np.array(agent.xy, dtype=float),
                    heading=np.array(agent.headings, dtype=float),
                    enter_t=agent.enter_t,
                    exit_t=agent.exit_t,
                )
            )
        entered = {p.person_id for p in world.people}
        world.sessions = [s for s in world.sessions if any(m in entered for m in s.members)]
        for s in world.sessions:
            s.members = [m for m in s.members if m in entered]
            exits = [self.agents[int(m[1:]) - 1].exit_t for m in s.members]
            s.exit_t = (
                None if any(e is None for e in exits) else max(e for e in exits if e is not None)
            )
        world.events.sort(key=lambda e: (e.t, e.event_id))
        world.merges.sort(key=lambda m: (m.t_start, m.person_ids))
        world.gate_log.sort(key=lambda g: (g.t, g.kind, g.gate_id))
