"""Products other than PetForce, simulated end to end: their own data, configuration files
(`product.yaml`, `event_mapping.yaml`, `team.yaml`, `content.yaml`) and ground truth.
`cs-assets simulate --product NAME` writes one; the platform runs on it with `CS_PRODUCT`,
`CS_EVENT_MAPPING`, `CS_TEAM` and `CS_CONTENT` pointing at its files (`config_env`)."""

from __future__ import annotations

from pathlib import Path

from cs_assets.dev.products.ledgerly.simulate import simulate_ledgerly

SIMULATORS = {"ledgerly": simulate_ledgerly}  # each writes its raw tables and ground truth
PRODUCTS = tuple(SIMULATORS)
CONFIG_FILES = {"CS_PRODUCT": "product.yaml", "CS_EVENT_MAPPING": "event_mapping.yaml",
                "CS_TEAM": "team.yaml", "CS_CONTENT": "content.yaml"}


def config_dir(product: str) -> Path:
    if product not in PRODUCTS:
        raise ValueError(f"product: expected one of {PRODUCTS}, got {product!r}")
    return Path(__file__).resolve().parent / product


def simulate_product(product: str, out_dir: Path, **kwargs) -> dict[str, int]:
    """Write the product's raw tables and ground truth; rows per file."""
    config_dir(product)  # an unknown product fails here, naming the known ones
    return SIMULATORS[product](out_dir, **kwargs)


def config_env(product: str) -> dict[str, str]:
    """The environment that points the platform at the product's configuration files."""
    folder = config_dir(product)
    return {key: str(folder / name) for key, name in CONFIG_FILES.items()}
