"""`nps_themes` and `feedback_escalations`: what NPS comments talk about, and with what mood.

The spec's `analyzeNPSFeedback`: NPS responses of the `window_days` before the as-of instant
(`T - 30 days <= responded_at < T`) with a comment; a comment mentions a theme when it
contains one of the theme's keywords, and counts once per theme however many keywords it
repeats. Its polarity is the response's score, as in the spec: positive at
`positive_score_at_least` (7) and above, negative below `negative_score_below` (7); raising
the first to 9 makes passives neutral (counted in `responses` only). A missing score is
neither. Unlike the spec's `includes`, keywords match whole words of the comment after
lowercasing and turning punctuation into spaces ("User-Friendly!" has `user friendly`,
"uneasy" has no `easy`), so the default keywords also list the plural / inflected forms the
substring match relied on.

A theme is escalated to product when its negative mentions reach (>=) the threshold, with the
most recent negative comments as examples, e-mail addresses redacted.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Self

import polars as pl
from pydantic import Field, model_validator

from cs_assets.validated_config import StrictModel, Violation
from cs_assets.vocabulary import instant

NON_WORD = r"[\W_]+"
EMAIL = r"[\w.+-]+@[\w-]+(\.[\w-]+)+"
THEME_COLUMNS = ["theme", "responses", "positive_mentions", "negative_mentions",
                 "net_sentiment"]
ESCALATION_COLUMNS = ["theme", "negative_mentions", "threshold", "example_comments"]
# The spec's themes and keywords, plus the inflections its substring match caught.
DEFAULT_KEYWORDS = {
    "ease_of_use": ["easy", "easier", "simple", "intuitive", "user-friendly"],
    "features": ["feature", "features", "functionality", "capability", "capabilities"],
    "support": ["support", "help", "helpful", "customer service"],
    "price": ["price", "pricing", "cost", "costs", "expensive", "value"],
    "reliability": ["bug", "bugs", "crash", "crashes", "error", "errors", "slow", "reliable"],
}


def _words(text: pl.Expr) -> pl.Expr:
    """Lowercase words separated by single spaces: how comments and keywords are compared."""
    return text.str.to_lowercase().str.replace_all(NON_WORD, " ").str.strip_chars()


def _keyword_words(keywords: list[str]) -> list[str]:
    return pl.Series(keywords, dtype=pl.String).to_frame().select(_words(pl.first()))\
        .to_series().to_list()


def _pattern(keywords: list[str]) -> str:
    """A regex matching any keyword as whole words of a `_words` text (normalized keywords
    hold only word characters and spaces: nothing to escape)."""
    return rf"\b(?:{'|'.join(_keyword_words(keywords))})\b"


class Escalation(StrictModel):
    negative_mentions_at_least: int = Field(10, ge=1)
    examples: int = Field(3, ge=1)


class ThemeConfig(StrictModel):
    window_days: int = Field(30, ge=1)
    positive_score_at_least: int = Field(7, ge=0, le=10)
    negative_score_below: int = Field(7, ge=0, le=10)
    keywords: dict[str, list[str]] = Field(DEFAULT_KEYWORDS, min_length=1)
    escalation: Escalation = Escalation()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.negative_score_below > self.positive_score_at_least:
            raise Violation("negative_score_below", "must be <= @positive_score_at_least")
        for theme, keywords in self.keywords.items():
            if not keywords or not all(_keyword_words(keywords)):
                raise Violation(f"keywords.{theme}", "needs keywords, each with a letter or "
                                 f"digit, got {keywords}")
        return self


def _mentions(nps_responses, as_of: date, config: ThemeConfig) -> pl.LazyFrame:
    """One row per (response in the window, theme its comment mentions), with polarity."""
    at = instant(as_of)
    score = pl.col("score")
    responses = nps_responses.lazy().filter(
        (pl.col("responded_at") >= at - timedelta(days=config.window_days))
        & (pl.col("responded_at") < at)
        & pl.col("comment").is_not_null()
    ).with_columns(
        _text=_words(pl.col("comment")),
        positive=(score >= config.positive_score_at_least).fill_null(False),
        negative=(score < config.negative_score_below).fill_null(False),
    )
    return pl.concat([
        responses.filter(pl.col("_text").str.contains(_pattern(keywords)))
        .with_columns(theme=pl.lit(theme))
        for theme, keywords in config.keywords.items()
    ]).drop("_text")


def nps_themes(nps_responses: pl.DataFrame | pl.LazyFrame, as_of: date,
               config: ThemeConfig | None = None) -> pl.DataFrame:
    """Per configured theme (columns: THEME_COLUMNS): comments mentioning it (`responses`),
    positive and negative ones, and net sentiment = (positive - negative) / (positive +
    negative), 0 when neither (the spec's `|| 1`). Sorted by `responses` descending (the
    spec's total mentions), then the config's theme order."""
    config = config or ThemeConfig()
    counts = _mentions(nps_responses, as_of, config).group_by("theme").agg(
        responses=pl.len().cast(pl.Int64),
        positive_mentions=pl.col("positive").sum().cast(pl.Int64),
        negative_mentions=pl.col("negative").sum().cast(pl.Int64),
    )
    pos, neg = pl.col("positive_mentions"), pl.col("negative_mentions")
    themes = pl.LazyFrame({"theme": list(config.keywords)}).with_row_index("_order")
    return (
        themes.join(counts, on="theme", how="left")
        .with_columns(pl.col("responses", "positive_mentions", "negative_mentions").fill_null(0))
        .with_columns(net_sentiment=((pos - neg) / (pos + neg).clip(lower_bound=1)))
        .sort(pl.col("responses"), pl.col("_order"), descending=[True, False])
        .select(THEME_COLUMNS)
        .collect()
    )


def feedback_escalations(nps_responses: pl.DataFrame | pl.LazyFrame, as_of: date,
                         config: ThemeConfig | None = None) -> pl.DataFrame:
    """Themes whose negative mentions are >= the threshold (columns: ESCALATION_COLUMNS),
    most negative first (ties: the `nps_themes` order), each with up to `examples` negative
    comments, most recent first, e-mail addresses replaced by `[email]`."""
    config = config or ThemeConfig()
    rule = config.escalation
    examples = (
        _mentions(nps_responses, as_of, config).filter("negative")
        .group_by("theme")
        .agg(example_comments=pl.col("comment")
             .sort_by("responded_at", "response_id", descending=[True, False])
             .head(rule.examples)
             .str.replace_all(EMAIL, "[email]"))
    )
    return (
        nps_themes(nps_responses, as_of, config).lazy().with_row_index("_order")
        .filter(pl.col("negative_mentions") >= rule.negative_mentions_at_least)
        .join(examples, on="theme", how="left")
        .with_columns(threshold=pl.lit(rule.negative_mentions_at_least, pl.Int64))
        .sort(pl.col("negative_mentions"), pl.col("_order"), descending=[True, False])
        .select(ESCALATION_COLUMNS)
        .collect()
    )
