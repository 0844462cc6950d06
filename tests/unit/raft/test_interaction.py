"""Golden interaction scripts (etcd interaction_test.go + testdata/*.txt).

Each ``testdata/*.txt`` file is a list of blocks::

    command arg ...
    ----
    expected output (describe_* lines of every Ready handled, status lines)

separated by blank lines. The output is regenerated with ``RAFT_REWRITE=1 python3 -m pytest
tests/unit/raft/test_interaction.py``; review the diff like code. Source of truth: each file's
header comment names the paper/thesis section the scenario illustrates.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from raft_network import Network

from raftsql.raft.config import ReadOnlyOption
from raftsql.raft.describe import describe_conf_state, describe_entry
from raftsql.raft.errors import ProposalDroppedError
from raftsql.raft.types import ConfState

TESTDATA = Path(__file__).parent / "testdata"


class Env:
    def __init__(self) -> None:
        self.net: Network | None = None
        self.out: list[str] = []

    @property
    def n(self) -> Network:
        assert self.net is not None, "add-nodes first"
        return self.net

    def run(self, cmd: str, args: list[str]) -> str:
        self.out = []
        if self.net is not None:
            self.net.trace = self.out
        getattr(self, "cmd_" + cmd.replace("-", "_"))(*args)
        return "\n".join(self.out) if self.out else "ok"

    def cmd_add_nodes(self, count: str, *opts: str) -> None:
        kw: dict[str, object] = {}
        for o in opts:
            k, v = o.split("=")
            if k == "read-only":
                kw["read_only_option"] = ReadOnlyOption[v.upper()]
            elif v in ("true", "false"):
                kw[k.replace("-", "_")] = v == "true"
            else:
                kw[k.replace("-", "_")] = int(v)
        self.net = Network(range(1, int(count) + 1), **kw)

    def cmd_campaign(self, nid: str) -> None:
        self.n.node(int(nid)).campaign()
        self.n.send()

    def cmd_propose(self, nid: str, data: str) -> None:
        try:
            self.n.node(int(nid)).propose(data.encode())
        except ProposalDroppedError as e:
            self.out.append(f"ProposalDroppedError: {e}")
        self.n.send()

    def cmd_tick(self, nid: str, count: str = "1") -> None:
        self.n.tick(int(nid), int(count))

    def cmd_tick_all(self, count: str = "1") -> None:
        self.n.tick_all(int(count))

    def cmd_isolate(self, nid: str) -> None:
        self.n.isolate(int(nid))

    def cmd_recover(self) -> None:
        self.n.recover()

    def cmd_read_index(self, nid: str, ctx: str) -> None:
        self.n.node(int(nid)).read_index(ctx.encode())
        self.n.send()

    def cmd_transfer_leader(self, frm: str, to: str) -> None:
        self.n.node(int(frm)).transfer_leader(int(to))
        self.n.send()

    def cmd_compact(self, nid: str, data: str) -> None:
        p = self.n.peers[int(nid)]
        applied = p.node.status().applied
        p.log.create_snapshot(applied, ConfState(voters=tuple(self.n.peers)), data.encode())
        p.log.compact(applied)
        self.out.append(f"compacted {nid} to {applied}")

    def cmd_status(self, *nids: str) -> None:
        for nid in nids or [str(x) for x in self.n.peers]:
            st = self.n.node(int(nid)).status()
            self.out.append(
                f"{nid}: {st.role.value} term={st.term} lead={st.leader_id} commit={st.commit} "
                f"applied={st.applied} lease={st.lease_remaining_ticks} "
                f"{describe_conf_state(st.conf_state)}"
            )

    def cmd_raft_log(self, nid: str) -> None:
        log = self.n.peers[int(nid)].log
        ents = log.entries(log.first_index(), log.last_index() + 1)
        self.out.extend(describe_entry(e) for e in ents)
        if not ents:
            self.out.append(f"log is empty: first index={log.first_index()}")


def parse(text: str) -> list[tuple[list[str], str]]:
    blocks: list[tuple[list[str], str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].startswith("#"):
            i += 1
            continue
        cmd = lines[i].split()
        assert lines[i + 1] == "----", f"line {i + 2}: expected ----"
        i += 2
        out: list[str] = []
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        blocks.append((cmd, "\n".join(out)))
    return blocks


def render(text: str, results: list[str]) -> str:
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    parts = ["\n".join(header)] if header else []
    for (cmd, _), got in zip(parse(text), results, strict=True):
        parts.append(" ".join(cmd) + "\n----\n" + got)
    return "\n\n".join(parts) + "\n"


@pytest.mark.parametrize("path", sorted(TESTDATA.glob("*.txt")), ids=lambda p: p.name)
def test_interaction_script(path: Path) -> None:
    """Reference: the section named in each script's header."""
    text = path.read_text()
    env = Env()
    results = [env.run(cmd[0], cmd[1:]) for cmd, _ in parse(text)]
    if os.environ.get("RAFT_REWRITE"):
        path.write_text(render(text, results))
        return
    for (cmd, want), got in zip(parse(text), results, strict=True):
        assert got == want, f"{path.name}: {' '.join(cmd)}"
