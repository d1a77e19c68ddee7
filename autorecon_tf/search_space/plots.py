"""Pictures of a search: the genotype as a DAG (like the paper's Fig. 2) and the alphas over time.

Both write PNGs atomically with matplotlib's Agg backend (no display needed).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from autorecon_tf.search_space.macro import EDGES, NUM_BLOCKS  # noqa: E402
from autorecon_tf.search_space.ops import DESCRIPTIONS, PRIMITIVES, ZERO_OPS  # noqa: E402
from autorecon_tf.utils.atomic import atomic_path  # noqa: E402

KIND_COLORS = {"up": "tab:blue", "normal": "tab:green", "cross": "tab:orange"}
# Node positions inside a block (N5 is drawn as the next block's N1).
_NODE_XY = {1: (0.0, 0.0), 2: (1.0, 1.0), 3: (1.0, -1.0), 4: (2.2, 0.0), 5: (3.4, 0.0)}


def _position(block, node):
    if node == 5:
        block, node = block + 1, 1
    x, y = _NODE_XY[node]
    return x + 3.4 * (block - 1), y


def _node_label(block, node):
    if node == 1 and block > 1:
        return f"B{block - 1}-N5\n(B{block}-N1)"
    if node == 5 and block == NUM_BLOCKS:
        return f"B{block}-N5"
    return f"B{block}-N{node}"


def _save(figure, path):
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(figure)


def plot_genotype(genotype, path):
    """Draws the discovered generator: nodes B<b>-N<k>, one labelled arrow per kept edge."""
    figure, axis = plt.subplots(figsize=(4.2 * NUM_BLOCKS, 4.2))
    for edge, op in genotype.edges():
        if op in ZERO_OPS:
            continue
        start, end = _position(*edge.source), _position(*edge.target)
        bend = 0.35 if edge.kind == "cross" else 0.0
        axis.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops={
                "arrowstyle": "->",
                "color": KIND_COLORS[edge.kind],
                "lw": 1.4,
                "connectionstyle": f"arc3,rad={bend}",
                "shrinkA": 14,
                "shrinkB": 14,
            },
        )
        # Midpoint of matplotlib's arc3 Bezier: half-way towards its control point.
        delta_x, delta_y = end[0] - start[0], end[1] - start[1]
        middle = ((start[0] + end[0]) / 2 + 0.5 * bend * delta_y, (start[1] + end[1]) / 2 - 0.5 * bend * delta_x)
        axis.text(
            *middle,
            DESCRIPTIONS[op],
            fontsize=6.5,
            ha="center",
            va="center",
            color=KIND_COLORS[edge.kind],
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    for block in range(1, NUM_BLOCKS + 1):
        for node in range(1, 6):
            if node == 5 and block < NUM_BLOCKS:
                continue
            x, y = _position(block, node)
            axis.text(
                x,
                y,
                _node_label(block, node),
                ha="center",
                va="center",
                fontsize=7,
                bbox={"boxstyle": "round", "fc": "whitesmoke", "ec": "black"},
            )
    for kind, color in KIND_COLORS.items():
        axis.plot([], [], color=color, label=f"{kind}-edge")
    axis.legend(loc="lower right", fontsize=7)
    how = genotype.metadata.get("method") or f"Gumbel form: {genotype.metadata.get('gumbel_form', '?')}"
    axis.set_title(
        f"searched generator for input {genotype.input_shape}, {genotype.num_classes} classes ({how})",
        fontsize=9,
    )
    axis.set_xlim(-0.6, 3.4 * NUM_BLOCKS + 0.6)
    axis.set_ylim(-1.8, 1.9)
    axis.axis("off")
    _save(figure, path)


def plot_alpha_history(history, path):
    """Entropy over the search, mean probability per op and kind over the search, final softmax(alpha) per edge."""
    epochs = [entry["epoch"] for entry in history]
    figure = plt.figure(figsize=(15, 9))
    grid = figure.add_gridspec(3, 3, height_ratios=[1, 1, 1.6])
    entropy_axis = figure.add_subplot(grid[0, :])
    entropy_axis.plot(epochs, [entry["entropy"] for entry in history], marker="o", markersize=3)
    entropy_axis.set_xlabel("epoch")
    entropy_axis.set_ylabel("mean entropy of softmax(alpha) (nats)")
    for column, kind in enumerate(PRIMITIVES):
        names = [edge.name for edge in EDGES if edge.kind == kind]
        trajectory = np.array([[entry["probabilities"][name] for name in names] for entry in history])
        curve_axis = figure.add_subplot(grid[1, column])
        for index, op in enumerate(PRIMITIVES[kind]):
            curve_axis.plot(epochs, trajectory[:, :, index].mean(axis=1), label=DESCRIPTIONS[op])
        curve_axis.set_title(f"{kind}-edges: mean probability per op", fontsize=9)
        curve_axis.legend(fontsize=6)
        heat_axis = figure.add_subplot(grid[2, column])
        image = heat_axis.imshow(trajectory[-1], aspect="auto", cmap="viridis", vmin=0.0)
        heat_axis.set_xticks(
            range(len(PRIMITIVES[kind])), [DESCRIPTIONS[op] for op in PRIMITIVES[kind]], rotation=45, fontsize=6
        )
        heat_axis.set_yticks(range(len(names)), names, fontsize=5)
        heat_axis.set_title(f"final softmax(alpha), {kind}-edges", fontsize=9)
        figure.colorbar(image, ax=heat_axis, fraction=0.05)
    figure.tight_layout()
    _save(figure, path)
