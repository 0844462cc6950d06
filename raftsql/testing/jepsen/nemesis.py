"""Nemeses: seeded, time-bounded fault schedules against a real process cluster.

One fault at a time, Jepsen's way: a quiet period, a fault held for a while, its undo, again,
until the run's time is up; then ``heal`` undoes everything still in force. The schedule (which
fault, which node, how long) is drawn from a ``random.Random(seed)``; the timing of the system
under test is real, so a seed replays the same *plan*, not the same interleaving.

Faults (name: what it does; why it is interesting):

- ``kill``: SIGKILL a random node or the leader, restart it later (durability, ARCHITECTURE.md
  "SIGKILL at any moment must lose no acknowledged write").
- ``pause``: SIGSTOP the leader (sometimes another node) for longer than an election timeout,
  then SIGCONT: a stalled leader must notice its lease has run out (driver.py, Raft thesis 6.4.1).
- ``partition``: through the fault proxy: isolate one node, isolate the leader, a random
  majority/minority split, or (5 nodes) a bridge where one node sees both halves.
- ``member``: add a ``--join`` node as a learner, promote it, later remove a voter (sometimes the
  leader), keeping the voter count between n and n+1 (Raft thesis 4).
- ``clock``: restart the leader with ``--clock-rate R``, hand it leadership back, then isolate it
  without pausing it. With R well below 1 its lease outlives the followers' election timeout
  and stale lease reads become possible (the bound of thesis 6.4.1); with R near 1 they are not.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftsql.testing.procs import ProcessCluster

KINDS = ("kill", "pause", "partition", "member", "clock")
SAFE_CLOCK_RATES = (0.9, 0.95, 1.1, 1.5)
"""Rates within the lease bound (margin 2 of 10 ticks allows a leader clock down to 0.8)."""


class FaultCluster(ProcessCluster):
    """A ``ProcessCluster`` whose nodes can run with their own clock rate, and that knows which
    nodes are members (removed nodes are neither restarted nor offered to clients)."""

    def __init__(self, base_dir: Path, n: int, **kw: Any) -> None:
        super().__init__(base_dir, n, proxy=True, **kw)
        self.clock_rates: dict[int, float] = {}
        self.removed: set[int] = set()
        self.lock = threading.Lock()

    def command(self, node_id: int) -> list[str]:
        cmd = super().command(node_id)
        rate = self.clock_rates.get(node_id)
        if rate is not None and rate != 1.0:
            cmd += ["--clock-rate", str(rate)]
        return cmd

    def members(self) -> list[int]:
        with self.lock:
            return [i for i in self.nodes if i not in self.removed]

    def dsns(self) -> dict[int, str]:
        return {i: self.nodes[i].pg_dsn for i in self.members()}

    def current_leader(self, among: list[int] | None = None) -> int | None:
        """The leader with the highest term among the nodes that answer (a deposed leader behind
        a partition may still believe it leads, in an older term)."""
        best: tuple[int, int] | None = None
        for i, st in self.statuses().items():
            if among is not None and i not in among:
                continue
            if st.get("role") == "leader" and (best is None or st["term"] > best[0]):
                best = (st["term"], i)
        return best[1] if best else None

    def wait_leader(self, timeout: float, among: list[int] | None = None) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.current_leader(among)
            if leader is not None:
                return leader
            time.sleep(0.05)
        return None


@dataclass
class NemesisLog:
    """Timestamped lines of everything the nemesis did: seconds since the run began, and the
    wall clock, to line up with the node logs."""

    start: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        now = time.time()
        wall = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        self.lines.append(f"t={time.monotonic() - self.start:6.2f} {wall} {text}")


class Nemesis(threading.Thread):
    """Runs the schedule in its own thread (the cluster API blocks); ``stop`` ends it early."""

    def __init__(
        self,
        cluster: FaultCluster,
        kinds: list[str],
        rng: random.Random,
        duration: float,
        log: NemesisLog,
        clock_rate: float | None = None,
        quiet: tuple[float, float] = (1.0, 3.0),
    ) -> None:
        super().__init__(name="nemesis", daemon=True)
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown nemesis {sorted(unknown)}; choose from {KINDS}")
        self.c = cluster
        self.kinds = kinds
        self.rng = rng
        self.duration = duration
        self.log = log
        self.clock_rate = clock_rate
        self.quiet = quiet
        self.stopped = threading.Event()
        self.paused: set[int] = set()
        self.killed: set[int] = set()
        self.error: BaseException | None = None
        self.counts: dict[str, int] = {}
        self._next_id = max(cluster.nodes) + 1
        self._initial_voters = len(cluster.nodes)
        self.election_s = cluster.tick_ms * cluster.election_tick / 1000

    # ------------------------------------------------------------------ schedule

    def run(self) -> None:
        deadline = time.monotonic() + self.duration
        faults: dict[str, Callable[[], None]] = {
            "kill": self.kill,
            "pause": self.pause,
            "partition": self.partition,
            "member": self.member,
            "clock": self.clock,
        }
        try:
            while not self._sleep(self.rng.uniform(*self.quiet)):
                if time.monotonic() >= deadline or not self.kinds:
                    break
                kind = self.rng.choice(self.kinds)
                self.counts[kind] = self.counts.get(kind, 0) + 1
                faults[kind]()
                self.heal()
        except BaseException as exc:  # noqa: BLE001 - reported by the runner
            self.error = exc
            self.log.add(f"nemesis error: {type(exc).__name__}: {exc}")
        finally:
            self.heal()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self.stopped.wait(seconds)

    def _hold(self, lo: float, hi: float) -> None:
        self._sleep(self.rng.uniform(lo, hi))

    def stop(self) -> None:
        self.stopped.set()

    # ------------------------------------------------------------------ targets

    def _running_members(self) -> list[int]:
        return [i for i in self.c.members() if self.c.nodes[i].running]

    def _pick(self, leader_bias: float) -> tuple[int, str]:
        live = self._running_members()
        if self.rng.random() < leader_bias:
            leader = self.c.current_leader(live)
            if leader is not None:
                return leader, "leader"
        return self.rng.choice(sorted(live)), "random"

    # ------------------------------------------------------------------ faults

    def kill(self) -> None:
        node, why = self._pick(0.5)
        self.log.add(f"kill -9 n{node} ({why})")
        self.c.kill(node)
        self.killed.add(node)
        self._hold(1.0, 4.0)
        self._restart_killed()

    def pause(self) -> None:
        node, why = self._pick(0.75)
        self.log.add(f"SIGSTOP n{node} ({why})")
        self.c.pause(node)
        self.paused.add(node)
        self._hold(1.5 * self.election_s + 0.5, 3.0 * self.election_s + 1.5)
        self._resume_paused()

    def partition(self) -> None:
        assert self.c.proxy is not None
        members = sorted(self.c.members())
        modes = ["isolate-one", "isolate-leader", "majority-minority"]
        if len(members) >= 5:
            modes.append("bridge")
        mode = self.rng.choice(modes)
        shuffled = self.rng.sample(members, len(members))
        if mode == "isolate-leader":
            leader = self.c.current_leader(self._running_members())
            if leader is None:
                mode = "isolate-one"
            else:
                shuffled.remove(leader)
                shuffled.insert(0, leader)
        if mode in ("isolate-one", "isolate-leader"):
            groups = [shuffled[:1], shuffled[1:]]
            self.c.proxy.partition(*groups)
            self.log.add(f"partition {mode} {groups}")
        elif mode == "majority-minority":
            cut = len(members) // 2
            groups = [shuffled[:cut], shuffled[cut:]]
            self.c.proxy.partition(*groups)
            self.log.add(f"partition {mode} {groups}")
        else:
            bridge, rest = shuffled[0], shuffled[1:]
            half = len(rest) // 2
            a, b = rest[:half], rest[half:]
            links = {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}
            self.c.proxy.heal()
            self.c.proxy.block(links)
            self.log.add(f"partition bridge n{bridge} between {a} and {b}")
        self._hold(2.0, 5.0)
        self.c.proxy.heal()
        self.log.add("heal partition")

    def member(self) -> None:
        """Grow to n+1 voters (add learner, catch up, promote) or shrink back to n (remove)."""
        voters = self._voters()
        if voters is None:
            self.log.add("member: no leader, skipped")
            return
        if len(voters) <= self._initial_voters:
            self._grow()
        else:
            self._shrink(voters)

    def _voters(self) -> list[int] | None:
        leader = self.c.wait_leader(5.0, self._running_members())
        if leader is None:
            return None
        st = self.c.status(leader)
        return list(st["voters"]) if st else None

    def _grow(self) -> None:
        new = self._next_id
        self._next_id += 1
        node = self.c.add_node(new)
        self.log.add(f"member: start n{new} with --join")
        if self._membership("add", new, f"&addr=127.0.0.1:{node.raft_port}") is None:
            return
        if self._wait_caught_up(new, 20.0):
            self._membership("promote", new, "")
            return
        if self.stopped.is_set():
            self.log.add(f"member: run ended before n{new} caught up; left a learner")
            return
        # A learner that cannot catch up is a finding; promoting it would only cost quorum.
        leader = self.c.current_leader(self._running_members())
        st_new, st_lead = self.c.status(new), self.c.status(leader) if leader else None
        progress = (st_lead or {}).get("peers", {}).get(str(new))
        fields = ("role", "leader_id", "applied_index")
        self.log.add(f"member: n{new} did not catch up, not promoted: its status "
                     f"{ {k: (st_new or {}).get(k) for k in fields} }, "
                     f"leader's progress for it {progress}")

    def _shrink(self, voters: list[int]) -> None:
        gone = self.rng.choice(sorted(voters))
        if self._membership("remove", gone, "") is None:
            return
        with self.c.lock:
            self.c.removed.add(gone)
        self.c.kill(gone, 15)
        self.log.add(f"member: n{gone} stopped (SIGTERM) after its removal")

    def _membership(self, action: str, node: int, extra: str) -> dict[str, Any] | None:
        """POST the change to the leader, retrying up to five times. A retry after an attempt
        whose outcome was unknown (a timeout) may be refused because that attempt did apply;
        the refusal that says so counts as done."""
        applied_already = {"add": "is already a learner", "promote": "is already a voter",
                           "remove": "is not a member"}[action]
        for attempt in range(5):
            leader = self.c.wait_leader(5.0, self._running_members())
            if leader is None:
                continue
            try:
                res = self.c.http(
                    leader, f"/cluster/{action}?id={node}{extra}", method="POST", timeout=15
                )
            except OSError as exc:
                res = {"error": repr(exc)}
            if "error" not in res:
                self.log.add(f"member: {action} n{node} via n{leader} -> {res}")
                return res
            if attempt and applied_already in str(res["error"]):
                self.log.add(f"member: {action} n{node} via n{leader}: an earlier attempt "
                             f"applied it ({res['error']})")
                return res
            self.log.add(f"member: {action} n{node} via n{leader} failed: {res}")
            time.sleep(0.5)
        return None

    def clock(self) -> None:
        """Make the leader's clock run at ``rate``, give it leadership, then isolate it."""
        assert self.c.proxy is not None
        rate = self.clock_rate if self.clock_rate is not None else self.rng.choice(SAFE_CLOCK_RATES)
        live = self._running_members()
        leader = self.c.wait_leader(5.0, live)
        if leader is None:
            self.log.add("clock: no leader, skipped")
            return
        drifting = [i for i in live if self.c.clock_rates.get(i, 1.0) == rate]
        target = drifting[0] if drifting else leader
        if not drifting:
            self.c.clock_rates[target] = rate
            self.log.add(f"clock: restart n{target} with --clock-rate {rate}")
            self.c.restart(target)
            leader = self.c.wait_leader(10.0, live)
            self._wait_caught_up(target, 15.0)
        if leader is not None and leader != target:
            self._transfer(leader, target)
        if self.c.current_leader(live) != target:
            self.log.add(f"clock: n{target} did not become leader, skipped")
            return
        self._sleep(self.rng.uniform(0.5, 1.5))
        others = [i for i in self.c.members() if i != target]
        self.c.proxy.partition([target], others)
        self.log.add(f"clock: isolate leader n{target} (clock rate {rate}) from {others}")
        self._hold(1.5, 3.0)  # a new leader is up within ~1 s; the stale window is before that
        self.c.proxy.heal()
        self.log.add("heal partition")

    def _wait_caught_up(self, node: int, timeout: float) -> bool:
        """Until ``node`` follows a leader and has applied nearly all it committed (a transfer to
        a node still starting is aborted by the leader after an election timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopped.is_set():
            leader = self.c.current_leader(self._running_members())
            st, st_lead = self.c.status(node), self.c.status(leader) if leader else None
            if st and st_lead and st.get("leader_id") == leader and \
                    st["applied_index"] >= st_lead["commit_index"] - 5:
                return True
            time.sleep(0.1)
        return False

    def _transfer(self, leader: int, target: int) -> None:
        for _ in range(3):
            res = self.c.http(leader, f"/cluster/transfer?id={target}", method="POST", timeout=10)
            if self.c.wait_leader(3.0, [target]) == target:
                self.log.add(f"clock: leadership n{leader} -> n{target}")
                return
            self.log.add(f"clock: transfer to n{target} answered {res}")
            leader = self.c.wait_leader(5.0, self._running_members()) or leader

    # ------------------------------------------------------------------ healing

    def _resume_paused(self) -> None:
        for node in sorted(self.paused):
            self.c.resume(node)
            self.log.add(f"SIGCONT n{node}")
        self.paused.clear()

    def _restart_killed(self) -> None:
        for node in sorted(self.killed):
            if node not in self.c.removed:
                self.c.start(node)
                self.log.add(f"restart n{node}")
        self.killed.clear()

    def heal(self) -> None:
        """Undo whatever is still in force: processes continued and restarted, links healed."""
        self._resume_paused()
        self._restart_killed()
        if self.c.proxy is not None:
            self.c.proxy.heal()
