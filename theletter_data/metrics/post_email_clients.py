"""post_email_clients: one row per emailed post per Japan-time day, for the 30 days from its
first send (as post_email_funnel); every count is cumulative since the send. Owner:
creator-experience team (authors' dashboard).

Where a post's email is read, as Litmus's email client market share and Mailchimp's and
Campaign Monitor's "email clients" reports show it:
- human_opens: opens by people, every load of the email's images (a reader who opens it on
  the phone and again on the computer gives two), as those reports count; human_openers: the
  distinct readers behind them.
- by email client: Apple Mail, Gmail, Outlook, Yahoo, other; by device class: mobile (a mail
  app on a phone or tablet), desktop (a mail app on a computer), webmail (a web browser, or a
  provider's image proxy, behind which the device is hidden), unknown. Each from the open's
  user agent at staging (`stg_email_events.email_client`, `device_class`; the rules and why
  in staging/email_clients.py). Each group's share is its opens / human_opens; the clients'
  shares add up to 1, as do the devices'.
- machine_opens: Apple Mail Privacy Protection's prefetches (`is_machine_open`), counted apart
  and never as a client: they say that the reader uses Apple Mail with the protection on, not
  that anyone read the email, and Litmus likewise reports them apart from Apple Mail's reads.
- Opens staged before staging classified clients (`email_client` NULL) count in human_opens and
  in no group until their days are staged again.
- Gmail's proxy caches images: a reader who opens a Gmail email again may not load them again,
  so Gmail's opens are undercounted against the others', everywhere.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.metrics.post_email_funnel import FUNNEL_DAYS
from theletter_data.serving.fields import category, count, rate
from theletter_data.serving.sections import (
    SERIES_DAYS,
    DashboardSection,
    Figures,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.email_clients import DEVICE_CLASSES, EMAIL_CLIENTS
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

CLIENT_LABELS = {
    "apple_mail": "Apple Mail",
    "gmail": "Gmail",
    "outlook": "Outlook",
    "yahoo": "Yahoo",
    "other": "Other",
}
DEVICE_LABELS = {
    "mobile": "Mobile",
    "desktop": "Desktop",
    "webmail": "Webmail",
    "unknown": "Unknown",
}
CLIENT_COLUMNS = tuple(
    f"{c}_opens" if c != "other" else "other_client_opens" for c in EMAIL_CLIENTS
)
DEVICE_COLUMNS = tuple(
    f"{d}_opens" if d != "unknown" else "unknown_device_opens" for d in DEVICE_CLASSES
)

POST_EMAIL_CLIENTS = Table(
    layer="metrics",
    name="post_email_clients",
    grain=f"one row per emailed post per day, for the {FUNNEL_DAYS} days from its first send",
    partition_by="date",
    key=("date", "post_id"),
    cluster_by=("newsletter_id", "post_id"),
    rate_columns=tuple(
        c.removesuffix("_opens") + "_share" for c in CLIENT_COLUMNS + DEVICE_COLUMNS
    ),
    columns=(
        Column("date", "DATE", "Japan-time day the counts run up to (inclusive)."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("post_id", "STRING", "Post."),
        Column("first_sent_at", "TIMESTAMP", "When the first email of the post was sent."),
        Column(
            "days_since_send", "INT64", f"Days from the first send's day (0 to {FUNNEL_DAYS - 1})."
        ),
        Column("human_opens", "INT64", "Opens by people (not machine opens), repeats included."),
        Column("human_openers", "INT64", "Readers behind them."),
        Column("machine_opens", "INT64", "Apple Mail Privacy Protection's prefetches, apart."),
        *(
            Column(column, "INT64", f"Human opens in {CLIENT_LABELS[client]}.")
            for client, column in zip(EMAIL_CLIENTS, CLIENT_COLUMNS, strict=True)
        ),
        *(
            Column(column, "INT64", f"Human opens on {DEVICE_LABELS[device].lower()}.")
            for device, column in zip(DEVICE_CLASSES, DEVICE_COLUMNS, strict=True)
        ),
        *(
            Column(
                column.removesuffix("_opens") + "_share",
                "FLOAT64",
                f"{column} / human_opens (NULL: no human open).",
                required=False,
            )
            for column in CLIENT_COLUMNS + DEVICE_COLUMNS
        ),
    ),
)


def _group_table(key: str, title: str, names: tuple[str, ...], labels: dict[str, str]):
    return RankedTable(
        key=key,
        query=f"email_{key}",
        title=title,
        description=f"Human opens of the posts emailed in the last {SERIES_DAYS} days, by "
        f"{title.lower().removeprefix('opens by ')}, in the order shown.",
        fields=(
            category("name", names),
            count("opens"),
            rate("share", nullable=True, description="opens / the posts' human opens."),
        ),
        order_by=("position",),
        columns=(
            PreviewColumn(
                title.removeprefix("Opens by ").capitalize(), lambda r: labels[r["name"]], "text"
            ),
            PreviewColumn("Opens", "opens"),
            PreviewColumn("Share", "share", "percent"),
        ),
        bar="opens",
        row_id=lambda r, key=key: f"{key}-{r['name']}",
        empty="No opens yet.",
    )


post_email_clients = metric_asset(
    table=POST_EMAIL_CLIENTS,
    upstream=[Upstream(stg_email_events, days_before=FUNNEL_DAYS)],
    params={"funnel_days": FUNNEL_DAYS},
    description=__doc__ or "",
    section=DashboardSection(
        name="email_clients",
        order=48,
        description=f"Where the posts emailed in the last {SERIES_DAYS} days were read: human "
        "opens by email client and by device; Apple Mail Privacy Protection's prefetches apart.",
        content=(
            Figures(
                query="email_client_totals",
                fields=(
                    count(
                        "human_opens",
                        description="Opens by people, repeats included.",
                        label=f"Email opens by people, posts of {SERIES_DAYS} days",
                    ),
                    count(
                        "machine_opens",
                        description="Apple Mail Privacy Protection's prefetches: not a client.",
                        label="Apple privacy prefetches, not counted as a client",
                    ),
                ),
            ),
            _group_table("clients", "Opens by email client", EMAIL_CLIENTS, CLIENT_LABELS),
            _group_table("devices", "Opens by device", DEVICE_CLASSES, DEVICE_LABELS),
        ),
    ),
)
