"""Prometheus metrics for /metrics, rendered by prometheus-client from the node's own counters.

A custom collector reads the counters the node already keeps, so the hot path never touches a
Prometheus object; errors by SQLSTATE and client sessions are counted by the frontend through
``FrontendCounters``.
"""

from __future__ import annotations

import collections
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.registry import Collector

from raftsql.node.driver import RaftNode


@dataclass
class FrontendCounters:
    sessions_opened: int = 0
    sessions_active: int = 0
    errors_by_sqlstate: dict[str, int] = field(default_factory=lambda: collections.Counter())


class NodeCollector(Collector):
    def __init__(self, node: RaftNode, frontend: FrontendCounters) -> None:
        self.node = node
        self.frontend = frontend

    def collect(self) -> Iterator[Metric]:
        node = self.node
        m = node.metrics
        st = node.status_snapshot
        yield CounterMetricFamily("raftsql_proposals", "Proposals submitted", m.proposals)
        yield CounterMetricFamily("raftsql_proposals_failed", "Proposals rejected or timed out",
                                  m.proposals_failed)
        yield CounterMetricFamily("raftsql_applied_entries", "Log entries applied",
                                  m.applied_entries)
        yield CounterMetricFamily("raftsql_fsyncs", "Synced log writes", m.fsyncs)
        yield CounterMetricFamily("raftsql_fsync_seconds", "Time spent in synced log writes",
                                  m.fsync_seconds)
        yield CounterMetricFamily("raftsql_ready_seconds",
                                  "Time spent handling Readys (persist, send, apply)",
                                  m.apply_seconds)
        yield CounterMetricFamily("raftsql_leader_changes", "Leader changes seen",
                                  m.leader_changes)
        yield CounterMetricFamily("raftsql_snapshots", "Snapshots taken", m.snapshots_taken)
        yield CounterMetricFamily("raftsql_slow_fsyncs",
                                  "Log fsyncs that took half an election timeout or more",
                                  m.slow_fsyncs)
        yield CounterMetricFamily("raftsql_leader_stalls",
                                  "Leader loop runs that sent heartbeats half an election "
                                  "timeout late", m.leader_stalls)
        yield CounterMetricFamily("raftsql_ack_spin_seconds",
                                  "Time the leader's loop polled for acks instead of sleeping",
                                  m.ack_spin_seconds)
        reads = CounterMetricFamily("raftsql_reads", "Reads served by consistency level",
                                    labels=["level"])
        for level, n in sorted(m.reads.items()):
            reads.add_metric([level], n)
        yield reads
        if st is not None:
            yield GaugeMetricFamily("raftsql_term", "Current term", st.term)
            yield GaugeMetricFamily("raftsql_commit_index", "Commit index", st.commit)
            yield GaugeMetricFamily("raftsql_applied_index", "Applied index", node.reads.applied)
            yield GaugeMetricFamily("raftsql_is_leader", "1 on the leader",
                                    1 if node.is_leader() else 0)
        fe = self.frontend
        yield CounterMetricFamily("raftsql_client_sessions", "Client sessions opened",
                                  fe.sessions_opened)
        yield GaugeMetricFamily("raftsql_client_sessions_active", "Client sessions open now",
                                fe.sessions_active)
        errors = CounterMetricFamily("raftsql_errors", "Errors returned, by SQLSTATE",
                                     labels=["sqlstate"])
        for code, n in sorted(fe.errors_by_sqlstate.items()):
            errors.add_metric([code], n)
        yield errors
        yield GaugeMetricFamily("raftsql_gc_frozen_objects",
                                "Objects exempt from the cyclic GC (the start-up heap, frozen)",
                                gc.get_freeze_count())


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def make_registry(node: RaftNode, frontend: FrontendCounters) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(NodeCollector(node, frontend))
    GCCollector(registry=registry)  # python_gc_collections_total{generation} and friends
    return registry
