"""The staging projections (line streams and app exports) give DuckDB their regular
expressions as constants: a pattern bound as a parameter (or computed per row) is compiled again
for every row it meets. Found in staging SES events, where the email-address and link-tag
patterns, parameters, and the recipient's own address, on every delivery's SMTP response, cost
3.4 of 18 CPU seconds per million events."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from theletter_data.staging.app_exports import APP_EXPORTS
from theletter_data.staging.app_logs import APP_LOG_EVENTS
from theletter_data.staging.email_events import EMAIL_EVENTS
from theletter_data.staging.page_views import PAGE_VIEW_EVENTS
from theletter_data.staging.payment_events import PAYMENT_EVENTS

STAGINGS = [EMAIL_EVENTS, PAGE_VIEW_EVENTS, APP_LOG_EVENTS, PAYMENT_EVENTS]
PER_ROW = {"recipient_pattern"}
"""The one pattern that must differ by row: the recipient's own address in free text."""


REGEXP_FUNCTIONS = {
    "regexp_matches",
    "regexp_full_match",
    "regexp_extract_all",
    "regexp_split_to_array",
}


def patterns(sql: str) -> list[exp.Expression]:
    """The pattern argument of every regular-expression function in `sql`."""
    found = []
    for node in sqlglot.parse_one(sql, read="duckdb").walk():
        if isinstance(node, exp.RegexpLike | exp.RegexpReplace | exp.RegexpExtract):
            found.append(node.expression)
        elif isinstance(node, exp.Anonymous) and node.name.lower() in REGEXP_FUNCTIONS:
            found.append(node.expressions[1])
    return found


PROJECTIONS = {
    **{s.stream.name: s.sql for s in STAGINGS},
    **{e.table.name: e.sql for e in APP_EXPORTS},
}


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_every_pattern_is_a_constant(name: str) -> None:
    found = patterns(PROJECTIONS[name])
    variable = [p.sql("duckdb") for p in found if not isinstance(p, exp.Literal)]
    assert set(variable) <= PER_ROW, variable


def test_the_recipient_s_pattern_runs_only_on_a_text_that_holds_an_at_sign() -> None:
    """Its CASE lets a text through unchanged when it has no `@`, which any address has."""
    sql = EMAIL_EVENTS.sql
    uses = [p for p in patterns(sql) if p.sql("duckdb") in PER_ROW]
    assert len(uses) == 3  # the diagnostic, the SMTP response, the rendering failure's message
    for use in uses:
        case = use.find_ancestor(exp.Case)
        assert case is not None, "the recipient's pattern outside a CASE"
        guard = case.args["ifs"][0].this.sql("duckdb")
        assert guard.startswith("CONTAINS(recipient, '@') AND NOT CONTAINS("), guard
