"""The product's name, plans and regions, as configuration: the contract's allowed plan and region
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

PLAN_GROUPS = ("paid_plans", "unpaid_plans", "premium_plans", "csm_plans", "review_plans")


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


class Voice(StrictModel):
    """How messages speak of the product's customers and what it does for them. The defaults
    are neutral, so a product that sets none gets plain wording, never another product's."""

    customer: str = "account"  # one customer: "your account"
    customers: str = "accounts"
    audience: str = "customers"  # "helps other <audience> find <product>"
    purpose: str = "get your work done"  # "helps you <purpose>"
    kept: str = "Your data and history"  # what waits for a customer who comes back
    shared: str = "the work"  # "<shared> is easier together" (member invitations)
    tasks: str = "completed tasks"  # what a task-completion decline is a decline of
    members: str = "active users"  # what an active-users decline is a decline of
    growth: str = "more to keep track of"  # why a growing customer outgrows its plan
    support_detail: str = "what you were trying to do"  # what a ticket should name
    first_steps: list[str] = Field(  # the onboarding checklist
        default_factory=lambda: ["Finish setting up your account", "Complete your first task"],
        min_length=1)
    habits: list[str] = Field(  # what the customers who get the most out of it do
        default_factory=lambda: ["Come back a few times a week",
                                 "Explore the features they have not tried yet"],
        min_length=1)


class ProductConfig(StrictModel):
    name: str = Field(min_length=1)  # what messages and reports call the product
    voice: Voice = Field(default_factory=Voice)
    plans: dict[str, Plan] = Field(min_length=1)  # the names subscription_changes uses
    # The plan of a household before its first plan change is known; default: the one
    # unpaid plan.
    default_plan: str | None = None
    regions: list[str] = Field(min_length=1)
    # false: session events carry no minutes (none are required; the minutes features are
    # not available)
    sessions_have_minutes: bool = True

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
    def upgrade_plan(self) -> str:
        """The plan upgrade offers name: the first premium plan, else the first paid one."""
        return (self.premium_plans or self.paid_plans or self.plan_names)[0]

    def plan_group(self, group: str) -> tuple[str, ...]:
        """The plans of a named group (`PLAN_GROUPS`), as conditions name them."""
        return getattr(self, group)

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
