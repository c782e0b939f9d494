"""The dashboard preview (`theletter-data preview`) of the generated week's documents: each
number where the page shows it, and charts that start with the data and label their axes."""

from __future__ import annotations

import copy
import html
import re
from datetime import timedelta
from pathlib import Path

from theletter_data.cli import main
from theletter_data.serving.documents import validate
from theletter_data.serving.preview import render_dashboard
from theletter_data.serving.registry import published_sections
from theletter_data.serving.sections import DailySeries
from theletter_data_tests.support.week import SUNDAY, Week, documents


def test_the_preview_renders_the_documents_numbers(week: Week, tmp_path: Path, capsys) -> None:
    docs = documents(week.data)
    newsletter_id, doc = max(
        docs.items(), key=lambda item: len(item[1]["recent_posts"]) + len(item[1]["cohorts"])
    )
    out = tmp_path / "preview.html"
    lake = str(week.data / "lake")
    assert main(["preview", newsletter_id, "--lake", lake, "--out", str(out)]) == 0
    page = out.read_text()

    def card(card_id: str) -> str:
        found = re.search(rf'id="{card_id}">.*?class="value">([^<]*)<', page, re.S)
        assert found, card_id
        return found.group(1)

    last_30 = doc["traffic"]["last_30_days"]
    assert card("kpi-traffic-last_30_days-page_views") == f"{last_30['page_views']:,}"
    assert card("kpi-traffic-last_30_days-unique_visitors") == f"{last_30['unique_visitors']:,}"
    last_90 = doc["traffic"]["last_90_days"]
    assert card("kpi-traffic-last_90_days-unique_visitors") == f"{last_90['unique_visitors']:,}"
    assert card("kpi-subscribers-total") == f"{doc['subscribers']['total']:,}"
    assert card("kpi-subscribers-paid") == f"{doc['subscribers']['paid']:,}"
    for post in doc["recent_posts"]:
        row = re.search(rf'<tr id="post-{post["post_id"]}">(.*?)</tr>', page, re.S)
        assert row, post["post_id"]
        assert html.escape(post["title"] or post["post_id"]) in row.group(1)
        assert f"<td>{post['sent']:,}</td>" in row.group(1)
        assert f"<td>{post['human_open_rate'] * 100:.1f}%</td>" in row.group(1)
    for source in doc["traffic_sources"]["by_category"]:
        assert f"<td>{source['page_views']:,}</td>" in page
    for cohort in doc["cohorts"]:
        assert f"<td>{cohort['cohort_week']}</td><td>{cohort['size']:,}</td>" in page
    new = sum(d["new"] for d in doc["subscribers"]["daily"])  # the week: all in the last 30 days
    assert f"Last 30 days: {new:,} new," in page
    series = [
        p for s in published_sections() for p in s.section.parts if isinstance(p, DailySeries)
    ]
    assert page.count("<polyline") == sum(len(p.lines) for p in series) and "<script" not in page
    assert [s["segment"] for s in doc["engagement"]["segments"]] == [
        "active", "at_risk", "dormant",
    ]  # fmt: skip
    for segment in doc["engagement"]["segments"]:
        row = re.search(rf'<tr id="engagement-{segment["segment"]}">(.*?)</tr>', page, re.S)
        assert row, segment["segment"]
        assert f"<td>{segment['readers']:,}</td><td>{segment['share'] * 100:.1f}%</td>" in row[1]
    assert doc["link_clicks"], "the busiest newsletter's links"
    for link in doc["link_clicks"]:
        row_id = f"link-{link['post_id']}-{link['link_url'].removeprefix('https://')}"
        row = re.search(rf'<tr id="{re.escape(html.escape(row_id))}">(.*?)</tr>', page, re.S)
        assert row, row_id
        assert f"<td>{link['unique_clickers']:,}</td><td>{link['total_clicks']:,}</td>" in row[1]
        assert f"<td>{link['scanner_clicks']:,}</td>" in row[1]
    clients = doc["email_clients"]
    assert card("kpi-email_clients-human_opens") == f"{clients['human_opens']:,}"
    assert card("kpi-email_clients-machine_opens") == f"{clients['machine_opens']:,}"
    for key in ("clients", "devices"):
        assert doc["email_clients"][key], key
        for group in doc["email_clients"][key]:
            row = re.search(rf'<tr id="{key}-{group["name"]}">(.*?)</tr>', page, re.S)
            assert row and f"<td>{group['opens']:,}</td>" in row[1], group
    # The charts start on the lake's first day (the week), not 90 days before the as-of day.
    assert doc["series_from"] == str(SUNDAY - timedelta(days=6))
    assert page.count(f">{doc['series_from']}</text>") == len(series)
    assert not re.search(r"(src|href)=", page)  # self-contained: nothing fetched

    assert main(["preview", "nl_missing", "--lake", lake]) == 1
    assert "No document at serving/v1/newsletters/nl_missing.json" in capsys.readouterr().err


def chart(page: str, block_id: str) -> tuple[list[str], list[float], str]:
    """A preview chart's y tick labels (bottom up), its lines' y coordinates, and its first
    day's label."""
    found = re.search(rf'<section[^>]* id="{block_id}">(.*?)</section>', page, re.S)
    assert found, block_id
    svg = found[1]
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)
    ys = [
        float(y) for p in re.findall(r'points="([^"]*)"', svg) for y in re.findall(r",([\d.]+)", p)
    ]
    first_day = re.findall(r"<text [^>]*>(\d{4}-\d{2}-\d{2})</text>", svg)[0]
    return ticks, ys, first_day


def test_the_preview_charts_start_with_the_data_and_label_their_axes(week: Week) -> None:
    """Seen in the preview: the 90-day charts drew a flat zero for the 83 days before the week's
    lake began, only the y axis's maximum was labelled, and a subscriber total moving from
    1,180 to 1,250 was a flat line at the top of a scale from 0. Now each chart starts on the
    document's `series_from`, labels round ticks, and the subscriber line's axis fits its range
    (it spans most of the plot's 116 pixels instead of 6)."""
    doc = copy.deepcopy(next(iter(documents(week.data).values())))
    first = SUNDAY - timedelta(days=6)
    doc["subscribers"]["daily"] = [
        {"date": str(first + timedelta(days=i)), "new": 10, "lost": 0, "net": 10,
         "total": total, "paid": 0}
        for i, total in enumerate((1180, 1190, 1200, 1215, 1230, 1240, 1250))
    ]  # fmt: skip
    doc["traffic"]["daily"] = [
        {"date": str(first + timedelta(days=i)), "page_views": v, "unique_visitors": v // 2,
         "visits": v // 2}
        for i, v in enumerate((120, 340, 90, 410, 380, 60, 200))
    ]  # fmt: skip
    validate(doc)
    assert doc["series_from"] == str(first)

    page = render_dashboard(doc)

    ticks, ys, first_day = chart(page, "subscribers-daily")
    assert ticks == ["1,180", "1,200", "1,220", "1,240", "1,260"]
    assert first_day == str(first)
    assert max(ys) - min(ys) > 0.8 * (180 - 2 * 32) * (1250 - 1180) / (1260 - 1180)
    ticks, ys, first_day = chart(page, "traffic-daily")
    assert ticks == ["0", "100", "200", "300", "400", "500"] and first_day == str(first)
    # 7 days, 7 points per line: nothing drawn before the data starts.
    polyline = re.search(r'<section[^>]* id="traffic-daily">.*?points="([^"]*)"', page, re.S)
    assert len(polyline[1].split()) == 7
