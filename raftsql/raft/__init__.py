"""The pure Raft consensus core: no I/O, no clock reads, no asyncio; stdlib only."""
