"""The product's plans and regions, as configuration: the contract's allowed plan and region
names and every plan rule downstream (who pays, who gets Premium treatment, a CSM, executive
business reviews) read this one definition. The shipped `product.yaml` is PetForce's;
`CS_PRODUCT` points at another product's file. Read when the code loads: a bad file fails
there, naming the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import Field, model_validator

from cs_assets.settings import ConfigError
from cs_assets.validated_config import ConfigFile, StrictModel, Violation


class ProductConfigError(ConfigError):
    """The product file is missing, unreadable or invalid; the message names the key path."""


class Plan(StrictModel):
    """What a plan means to customer success."""

    paid: bool
    premium: bool = False  # Premium treatment: adoption score, onboarding, downgrade saves
    csm: bool = False  # households on it are assigned a CSM (the others: automated CS)
    executive_reviews: bool = False  # they get an EBR deck each quarter

    @model_validator(mode="after")
    def _check(self) -> Self:
        for flag in ("premium", "csm", "executive_reviews"):
            if getattr(self, flag) and not self.paid:
                raise Violation(flag, "only a paid plan can have it")
        return self


class ProductConfig(StrictModel):
    plans: dict[str, Plan] = Field(min_length=1)  # the names subscription_changes uses
    # The plan of a household before its first plan change is known; default: the one
    # unpaid plan.
    default_plan: str | None = None
    regions: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        unpaid = [name for name, plan in self.plans.items() if not plan.paid]
        if self.default_plan is None and len(unpaid) != 1:
            raise Violation("default_plan", f"required unless exactly one plan is unpaid "
                            f"(unpaid: {unpaid})")
        if self.default_plan is not None and self.default_plan not in self.plans:
            raise Violation("default_plan", f"{self.default_plan!r} is not one of @plans "
                            f"{list(self.plans)}")
        if len(set(self.regions)) != len(self.regions):
            raise Violation("regions", "names a region twice")
        return self

    def _with(self, flag: str) -> tuple[str, ...]:
        return tuple(name for name, plan in self.plans.items() if getattr(plan, flag))

    @property
    def plan_names(self) -> tuple[str, ...]:
        return tuple(self.plans)

    @property
    def paid_plans(self) -> tuple[str, ...]:
        return self._with("paid")

    @property
    def unpaid_plans(self) -> tuple[str, ...]:
        return tuple(name for name, plan in self.plans.items() if not plan.paid)

    @property
    def premium_plans(self) -> tuple[str, ...]:
        return self._with("premium")

    @property
    def csm_plans(self) -> tuple[str, ...]:
        return self._with("csm")

    @property
    def review_plans(self) -> tuple[str, ...]:
        return self._with("executive_reviews")

    @property
    def first_plan(self) -> str:
        """`default_plan`, or the one unpaid plan."""
        return self.default_plan or self.unpaid_plans[0]


PRODUCT_CONFIG = ConfigFile(ProductConfig, "product.yaml", "CS_PRODUCT", ProductConfigError,
                            "product config")


def load_product(env: Mapping[str, str] = os.environ) -> ProductConfig:
    """The file in `CS_PRODUCT`, else the shipped one; errors start with the variable."""
    path = env.get("CS_PRODUCT", "")
    try:
        return PRODUCT_CONFIG.load(path or None)
    except ProductConfigError as exc:
        raise ProductConfigError(f"CS_PRODUCT: {exc}" if path else str(exc)) from None


PRODUCT = load_product()
