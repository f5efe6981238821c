"""What the state tests measure over a long run: lineage sizes and stored blocks."""

from __future__ import annotations

from fastdstream.testing import ManualStreaming, block_ids


def lineage_size(rdd) -> int:
    """RDDs in the whole lineage, the state carried from earlier batches included."""
    seen: set[int] = set()
    stack = [rdd]
    while stack:
        node = stack.pop()
        if node.id() not in seen:
            seen.add(node.id())
            stack.extend(node._parents)
    return len(seen)


def run_1000_batches(manual: ManualStreaming) -> list[int]:
    """Start ``manual`` and run 1000 batches; the blocks stored after each 100."""
    manual.start()
    blocks: list[int] = []
    for _ in range(10):
        manual.run_batches(100)
        blocks.append(len(block_ids(manual.sc)))
    return blocks
