"""Figures as PNG bytes, data URIs and markdown images: one way to put a chart in a report's
HTML or in an asset's metadata (the Dagster UI renders markdown images from data URIs)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG, closed afterwards so long runs do not accumulate figures."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def markdown_image(png: bytes, alt: str) -> str:
    """A markdown image embedding `png`, for MetadataValue.md."""
    return f"![{alt.replace(']', '')}]({data_uri(png)})"
