"""Memory and time of a follower catching up from a snapshot of a big database.

A 3-node cluster (real `raftsql serve` processes, fsync on, `--snapshot-entries 500`) loads
``--mb`` MB of rows; one follower is killed, the others write past the next snapshot so the
leader's log no longer reaches back to the follower's, and the follower is restarted. It can
only catch up from the leader's snapshot, which is the whole database. Printed: the catch-up
time, and the peak resident memory of the leader and of the follower while it ran, split into
anonymous memory (the heap) and file-backed pages (a mapped snapshot file: page cache the
kernel can reclaim), sampled from /proc/<pid>/status every 5 ms.

    python bench/snapshot_bench.py [--mb 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import loadgen  # noqa: E402

from raftsql.testing.procs import ProcessCluster  # noqa: E402

ROWS_PER_STATEMENT = 20_000  # ~20 MB: md5 text repeated to ~1 KB per row


class _Peaks:
    """Peak RssAnon / RssFile (KiB) of some processes, sampled on a thread."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = {(name, kind): 0 for name in pids for kind in ("RssAnon", "RssFile")}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            kind = line.split(":", 1)[0]
                            if (name, kind) in self.peak:
                                value = int(line.split()[1])
                                self.peak[(name, kind)] = max(self.peak[(name, kind)], value)
                except OSError:
                    pass  # the follower is restarting
            time.sleep(0.005)

    def __enter__(self) -> _Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(args: argparse.Namespace) -> None:
    print(f"# snapshot_bench: {args.mb} MB database, snapshot every 500 entries")
    with tempfile.TemporaryDirectory() as tmp, ProcessCluster(Path(tmp), 3,
                                                             snapshot_entries=500) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader(30)
        dsn = cluster.nodes[leader].pg_dsn
        load = ["CREATE TABLE big (i INTEGER PRIMARY KEY, b TEXT)"] + [
            f"INSERT INTO big SELECT g, repeat(md5(g::text), 31) FROM generate_series("
            f"{k * ROWS_PER_STATEMENT + 1}, {(k + 1) * ROWS_PER_STATEMENT}) g"
            for k in range(max(1, args.mb // 20))]
        t0 = time.monotonic()
        asyncio.run(loadgen.run_statements(dsn, load))
        print(f"loaded in {time.monotonic() - t0:.1f} s")
        follower = next(i for i in cluster.nodes if i != leader)
        cluster.kill(follower)
        asyncio.run(loadgen.run_statements(dsn, ["CREATE TABLE small (i INTEGER)"]
                         + [f"INSERT INTO small VALUES ({i})" for i in range(1500)]))
        status = cluster.status(leader) or {}
        size = (cluster.nodes[leader].data_dir / "sql" / "state.sqlite").stat().st_size
        print(f"leader applied {status.get('applied_index')}, database {size / 2**20:.0f} MiB; "
              f"restarting follower {follower}")
        t0 = time.monotonic()
        cluster.start(follower)
        pids = {"leader": cluster.nodes[leader].proc.pid,
                "follower": cluster.nodes[follower].proc.pid}
        with _Peaks(pids) as peaks:
            cluster.wait_converged(120, ids=list(cluster.nodes))  # a follower that died fails
        installed = (cluster.status(follower) or {}).get("snapshot_index", 0)
        if not installed:
            raise SystemExit(f"follower {follower} caught up without installing a snapshot")
        print(f"caught up in {time.monotonic() - t0:.1f} s (the follower installed the snapshot "
              f"at {installed})")
        for name in pids:
            anon, mapped = peaks.peak[(name, "RssAnon")], peaks.peak[(name, "RssFile")]
            print(f"{name:8s} peak anonymous {anon / 1024:6.0f} MiB, file-backed "
                  f"{mapped / 1024:6.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="database size to load, in MB")
    main(parser.parse_args())
