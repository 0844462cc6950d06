"""The ``raftsql`` command line (ARCHITECTURE.md, "Command line (contract)")."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

DEV_BASE_PORTS = {"raft": 7001, "pg": 6001, "http": 8001}


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run one node in the foreground")
    p.add_argument("--node-id", type=int, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--raft-listen", required=True, metavar="HOST:PORT")
    p.add_argument("--pg-listen", required=True, metavar="HOST:PORT")
    p.add_argument("--http-listen", metavar="HOST:PORT")
    p.add_argument("--peers", required=True, metavar="ID=HOST:PORT[,...]",
                   help="every initial voter's Raft address as this node dials it")
    p.add_argument("--join", action="store_true",
                   help="start empty and wait to be added to a running cluster")
    p.add_argument("--cluster-id", default="raftsql")
    p.add_argument("--secret-file", type=Path, help="shared cluster secret for peer handshakes")
    p.add_argument("--users-file", type=Path, help="users for SCRAM-SHA-256 authentication")
    p.add_argument("--tick-ms", type=int, default=50)
    p.add_argument("--election-tick", type=int, default=10)
    p.add_argument("--snapshot-entries", type=int, default=None,
                   help="snapshot every N applied entries (default: 10,000, or more for a big database)")
    p.add_argument("--ack-spin-us", type=int, default=500,
                   help="a leader with one write waiting keeps polling for the acks this long "
                        "instead of sleeping (lower latency on VMs; 0: off)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--clock-rate", type=float, default=1.0, help=argparse.SUPPRESS)
    # testing only (clock-drift fault injection): this node's clock runs at this rate
    p.add_argument("--check", action="store_true",
                   help="validate the flags and configuration, then exit without serving")


def _serve(args: argparse.Namespace) -> int:
    from raftsql.server.app import NodeServer, ServeOptions, parse_addr, parse_peers

    try:
        opts = ServeOptions(
            node_id=args.node_id,
            data_dir=args.data_dir,
            raft_listen=parse_addr(args.raft_listen),
            pg_listen=parse_addr(args.pg_listen),
            http_listen=parse_addr(args.http_listen) if args.http_listen else None,
            peers=parse_peers(args.peers),
            cluster_id=args.cluster_id,
            secret=args.secret_file.read_bytes().strip() if args.secret_file else None,
            join=args.join,
            tick_ms=args.tick_ms,
            election_tick=args.election_tick,
            snapshot_entries=args.snapshot_entries,
            ack_spin_us=args.ack_spin_us,
            users_file=args.users_file,
            clock_rate=args.clock_rate,
        )
        opts.validate()
    except (ValueError, OSError) as exc:
        print(f"raftsql serve: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"raftsql serve: configuration of node {opts.node_id} is valid")
        return 0
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr,
        format=f"%(asctime)s node{opts.node_id} %(name)s %(levelname)s %(message)s")
    try:
        from uvloop import run as runner
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
    keep_sqlite_files_to_this_process()
    ok = runner(NodeServer(opts).run_until_signalled(on_serving=freeze_start_up_heap))
    return 0 if ok else 1


def keep_sqlite_files_to_this_process() -> None:
    """Open every SQLite file of this process with SQLite's `unix-excl` VFS: the process takes
    an exclusive lock on a file the first time it reads it and keeps it while any of its
    connections has it open, and the WAL index lives in the process's memory instead of the
    shared `-shm` file.

    Why: with the default VFS every transaction takes and drops POSIX locks with fcntl (on the
    database and on the -shm file): 2 system calls per point read and about 14 per pgbench
    TPC-B transaction on the leader, whose connections are dozens (apply, reads, interactive
    transactions). Within one process SQLite shares lock state between connections in memory
    (os_unix.c), so with the process holding the file none of those calls is needed: a TPC-B
    transaction cost the leader 9% less CPU (docs/benchmarks.md, "Twenty-sixth round").

    What it costs: no other process can open the node's database while the node runs (it gets
    SQLITE_BUSY), as none can open its Raft log (RocksDB's LOCK file). Nothing of raftsql
    does: the node's own connections, threads and snapshot copies are in this process, and
    `raftsql backup` goes through the node (or copies a stopped one). Only `raftsql
    serve` does this: an embedded node's files are opened in its host's process, whose other
    SQLite files are the host's business."""
    import apsw

    apsw.set_default_vfs("unix-excl")


GC_YOUNG_THRESHOLD = 10_000
"""Net allocations of tracked objects that start a young-generation collection (CPython's
default: 700). See `freeze_start_up_heap`."""


def freeze_start_up_heap() -> None:
    """Exempt everything the node built to start (modules, parser tables, caches) from the
    cyclic garbage collector: collect once, then `gc.freeze()`; and collect the young
    generation only after GC_YOUNG_THRESHOLD net allocations.

    Why the freeze: CPython's full collections walk every tracked object. On a leader at 64
    clients they came several times in 6 s, the longest taking 35-41 ms: a stall for every
    client at once. After the freeze the longest took 4.5-5.2 ms (docs/benchmarks.md, "Tenth
    round"). The collect first keeps start-up garbage out of the permanent generation.

    Why the threshold: what fills the young generation is not garbage but the requests in
    flight (64 clients' futures, commands and results), freed by reference counting as they
    finish; at 700 a collection walked them, and promoted them, once every ~70 upserts: 2.1-2.7
    µs of the leader's CPU per upsert and 9 µs per TPC-B transaction went to collections that
    found almost nothing (timed with gc.callbacks, docs/benchmarks.md "Twenty-sixth round").
    At 10,000 the flight never reaches it. Cyclic garbage, which reference counting cannot
    free, now waits for up to 10,000 allocations instead of 700: a bounded amount.

    Only `raftsql serve` does this: an embedded node lives in its host's process, whose
    collector is the host's to tune."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _dev(args: argparse.Namespace) -> int:
    """Run a local cluster of ``--nodes`` processes until Ctrl-C, then stop them by PID."""
    n = args.nodes
    base = Path(args.data_dir)
    host = "127.0.0.1"
    ports = {k: [v + args.port_offset + i for i in range(n)] for k, v in DEV_BASE_PORTS.items()}
    peers = ",".join(f"{i + 1}={host}:{ports['raft'][i]}" for i in range(n))
    procs: list[subprocess.Popen[bytes]] = []
    for i in range(n):
        cmd = [
            sys.executable, "-m", "raftsql.cli", "serve",
            "--node-id", str(i + 1), "--data-dir", str(base / f"node{i + 1}"),
            "--raft-listen", f"{host}:{ports['raft'][i]}",
            "--pg-listen", f"{host}:{ports['pg'][i]}",
            "--http-listen", f"{host}:{ports['http'][i]}",
            "--peers", peers,
        ]
        procs.append(subprocess.Popen(cmd))
    stopping = False

    def stop(*_a: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"raftsql dev: {n} nodes, data in {base}", flush=True)
    for i in range(n):
        print(f"postgresql://raftsql@{host}:{ports['pg'][i]}/raftsql", flush=True)
    try:
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("raftsql dev: a node exited; stopping the cluster", file=sys.stderr)
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return 0


def _http(addr: str, path: str, method: str = "GET", timeout: float = 3.0) -> Any:
    req = urllib.request.Request(f"http://{addr}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def _default_http(n: int = 3) -> list[str]:
    return [f"127.0.0.1:{DEV_BASE_PORTS['http'] + i}" for i in range(n)]


def _status(args: argparse.Namespace) -> int:
    addrs = args.http.split(",") if args.http else _default_http()
    rows = []
    for addr in addrs:
        try:
            rows.append(_http(addr, "/status"))
        except (OSError, ValueError) as exc:
            rows.append({"node_id": "?", "role": f"unreachable ({addr}: {exc})"})
    reachable = all("term" in r for r in rows)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0 if reachable else 1
    header = ("node", "role", "term", "leader", "commit", "applied", "lag", "address")
    lines = [header]
    for addr, r in zip(addrs, rows, strict=True):
        lag = "" if "commit_index" not in r else str(r["commit_index"] - r["applied_index"])
        lines.append((str(r.get("node_id")), str(r.get("role")), str(r.get("term", "")),
                      str(r.get("leader_id") or "-") if "term" in r else "",
                      str(r.get("commit_index", "")), str(r.get("applied_index", "")), lag, addr))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0 if reachable else 1


def _find_leader_http(addrs: list[str]) -> str:
    statuses = {}
    for addr in addrs:
        try:
            statuses[addr] = _http(addr, "/status")
        except (OSError, ValueError):
            continue
    for addr, st in statuses.items():
        if st.get("role") == "leader":
            return addr
    leaders = {st.get("leader_id") for st in statuses.values()} - {None, 0}
    if len(leaders) == 1:
        # A node knows its peers' Raft addresses, not their HTTP ones: say which to add.
        raise SystemExit(f"raftsql cluster: node {leaders.pop()} leads, and its HTTP address "
                         "is not among --http " + ", ".join(addrs) + " (give every node's)")
    raise SystemExit("raftsql cluster: no reachable leader among " + ", ".join(addrs))


def _cluster(args: argparse.Namespace) -> int:
    addrs = args.http.split(",") if args.http else _default_http()
    leader = _find_leader_http(addrs)
    query = []
    if args.node is not None:
        query.append(f"id={args.node}")
    if getattr(args, "addr", None):
        query.append(f"addr={args.addr}")
    path = f"/cluster/{args.action}" + ("?" + "&".join(query) if query else "")
    result = _http(leader, path, method="POST", timeout=15)
    print(json.dumps(result, sort_keys=True))
    return 1 if "error" in result else 0


def _migrate_parser(sub: Any) -> None:
    from raftsql.migrate.runner import DEFAULT_DIR, DEFAULT_DSN

    p = sub.add_parser("migrate", help="apply, revert or list schema migrations")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--dsn", default=DEFAULT_DSN, help=f"any node's Postgres URL ({DEFAULT_DSN})")
    p.add_argument("--dir", default=DEFAULT_DIR, help="migrations directory (migrations/)")
    p.add_argument("--to", type=int, help="up: apply up to this version; down: revert every "
                                          "version above it (default: only the latest)")
    p.add_argument("--dry-run", action="store_true", help="print what would run, change nothing")


def _migrate(args: argparse.Namespace) -> int:
    from raftsql.migrate import runner
    from raftsql.migrate.files import MigrationFileError

    try:
        if args.action == "status":
            rows = runner.status(args.dsn, args.dir)
            print(runner.format_status(rows))
            return 1 if any(r.state in ("changed", "missing-file") for r in rows) else 0
        action = runner.up if args.action == "up" else runner.down
        action(args.dsn, args.dir, to=args.to, dry_run=args.dry_run)
    except (runner.MigrationError, MigrationFileError) as exc:
        print(f"raftsql migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def _backup_parsers(sub: Any) -> None:
    b = sub.add_parser("backup", help="write a consistent SQLite backup taken at a "
                                      "linearizable point")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--http", metavar="HOST:PORT[,...]",
                     help="the nodes' --http-listen addresses; the first that answers takes it")
    src.add_argument("--data-dir", type=Path,
                     help="copy a STOPPED node's state instead (after quorum loss; see "
                          "docs/operations.md)")
    b.add_argument("--out", required=True, type=Path, help="the backup file to write")
    b.add_argument("--timeout", type=float, default=60.0)
    r = sub.add_parser("restore", help="seed one node's data dir of a NEW cluster from a backup")
    r.add_argument("--from", dest="source", required=True, type=Path, help="the backup file")
    r.add_argument("--data-dir", required=True, type=Path, help="the new node's (empty) data dir")
    r.add_argument("--node-id", required=True, type=int)
    r.add_argument("--peers", required=True, metavar="ID=HOST:PORT[,...]",
                   help="the new cluster's voters, as given to `raftsql serve --peers`")


def _progress(done: int, total: int) -> None:
    """A one-line progress bar on stderr (bytes / total)."""
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} bytes", end=end,
          file=sys.stderr, flush=True)


def _backup(args: argparse.Namespace) -> int:
    from raftsql.server.backup import BackupError, fetch_backup, offline_backup, verify_backup

    if args.data_dir is not None:
        try:
            v = offline_backup(args.data_dir, args.out)
        except BackupError as exc:
            print(f"raftsql backup: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"file": str(args.out), "bytes": v.size, "integrity": "ok",
                          "applied_index": v.applied_index, "checksum": v.checksum,
                          "offline": True, "tables": list(v.user_tables)}, sort_keys=True))
        return 0
    try:
        info = fetch_backup(args.http.split(","), args.out, timeout=args.timeout,
                            progress=_progress)
        v = verify_backup(args.out)
    except BackupError as exc:
        print(f"raftsql backup: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"file": str(args.out), "bytes": v.size, "applied_index": v.applied_index,
                      "read_index": info.read_index, "integrity": "ok", "checksum": v.checksum,
                      "sha256": info.sha256, "tables": list(v.user_tables)}, sort_keys=True))
    return 0


def _restore(args: argparse.Namespace) -> int:
    from raftsql.server.app import parse_peers
    from raftsql.server.backup import BackupError, restore_data_dir

    try:
        voters = parse_peers(args.peers)
        v = restore_data_dir(args.source, args.data_dir, args.node_id, voters)
    except (BackupError, ValueError, OSError) as exc:
        print(f"raftsql restore: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"data_dir": str(args.data_dir), "node_id": args.node_id,
                      "voters": sorted(voters), "applied_index": v.applied_index,
                      "checksum": v.checksum}, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raftsql", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    dev = sub.add_parser("dev", help="run a local cluster in one command")
    dev.add_argument("--nodes", type=int, default=3)
    dev.add_argument("--data-dir", default=os.path.join(".", "data"))
    dev.add_argument("--port-offset", type=int, default=0)
    st = sub.add_parser("status", help="print a table of the cluster's nodes")
    st.add_argument("--http", help="comma-separated HOST:PORT of the nodes' --http-listen")
    st.add_argument("--json", action="store_true")
    cl = sub.add_parser("cluster", help="membership and leadership changes")
    cl.add_argument("action", choices=["add", "promote", "remove", "transfer"])
    cl.add_argument("--http", help="comma-separated HOST:PORT of the nodes' --http-listen")
    cl.add_argument("--node", type=int, help="the node id to add, promote, remove or transfer to")
    cl.add_argument("--addr", help="with add: the new node's Raft address HOST:PORT")
    sub.add_parser("version", help="print the version")
    _migrate_parser(sub)
    _backup_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "backup":
        return _backup(args)
    if args.command == "restore":
        return _restore(args)
    if args.command == "migrate":
        return _migrate(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "dev":
        return _dev(args)
    if args.command == "status":
        return _status(args)
    if args.command == "cluster":
        if args.action in ("add", "promote", "remove") and args.node is None:
            parser.error(f"cluster {args.action} needs --node")
        return _cluster(args)
    from raftsql import __version__

    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
