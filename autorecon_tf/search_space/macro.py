"""The fixed macro-architecture of the searched generator (paper Fig. 2), as data.

Three convolutional blocks of five nodes each; node N5 of block b is node N1 of
block b+1. Per block b:

- up-edges N1->N2 and N1->N3 (x2 upsampling to the block's resolution and width);
- normal-edges N2->N4, N3->N4, N2->N5, N3->N5, N4->N5 (same resolution and width);
- for b > 1, cross-edges from block b-1's N2, N3 and N4 into block b's N4 and
  N5 (x2 upsampling, to block b's width).

That is 6 up-edges, 15 normal-edges and 12 cross-edges: 33 edges. ``EDGES``
fixes their order, which is the order of the supernet's alpha variables and of
the genotype's edge list.
"""

import dataclasses

NUM_BLOCKS = 3
NODES_PER_BLOCK = 5
UPSAMPLING_PER_BLOCK = 2  # each block doubles the resolution: the output is 8x the initial map


@dataclasses.dataclass(frozen=True)
class Edge:
    """One edge of the DAG: ``kind`` in {"up", "normal", "cross"}; nodes are (block, index) pairs."""

    kind: str
    source: tuple
    target: tuple

    @property
    def name(self):
        (source_block, source_node), (target_block, target_node) = self.source, self.target
        return f"B{target_block}_{self.kind}_B{source_block}N{source_node}_N{target_node}"


def _block_edges(block):
    edges = [Edge("up", (block, 1), (block, 2)), Edge("up", (block, 1), (block, 3))]
    for source, target in ((2, 4), (3, 4), (2, 5), (3, 5), (4, 5)):
        edges.append(Edge("normal", (block, source), (block, target)))
    if block > 1:
        for target in (4, 5):
            for source in (2, 3, 4):
                edges.append(Edge("cross", (block - 1, source), (block, target)))
    return edges


EDGES = tuple(edge for block in range(1, NUM_BLOCKS + 1) for edge in _block_edges(block))
EDGE_NAMES = tuple(edge.name for edge in EDGES)
EDGES_BY_NAME = {edge.name: edge for edge in EDGES}


def incoming_edges(block, node):
    """Edges (in ``EDGES`` order) whose outputs are summed into node ``node`` of block ``block``."""
    return [edge for edge in EDGES if edge.target == (block, node)]


def initial_size(height, width):
    """Side lengths of the initial feature map: the smallest that reach >= (height, width) after x8."""
    factor = UPSAMPLING_PER_BLOCK**NUM_BLOCKS
    return -(-height // factor), -(-width // factor)
