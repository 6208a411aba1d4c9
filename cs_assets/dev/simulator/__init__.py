"""Deterministic demo-data simulator: every raw table of the contract plus ground truth."""

from cs_assets.dev.simulator.engine import SimulationSummary, simulate
from cs_assets.dev.simulator.params import SCALES, Scale, SimulationParams

__all__ = ["SCALES", "Scale", "SimulationParams", "SimulationSummary", "simulate"]
