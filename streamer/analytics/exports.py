"""Reports as CSV: one line per series and point, totals and comparisons alongside (pure).

Columns: series, label, t, value; then, when the report has them, moving_average and
previous_total (the series' total over the previous period, repeated on its lines).
Spreadsheet-safe: cells that begin with = + - @ (a formula to Excel) get a leading '.
"""

from __future__ import annotations

import csv
import io
from typing import Any

__all__ = ["report_csv", "top_csv"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    averages = {
        s["key"]: [p["value"] for p in s["points"]]
        for s in (report.get("moving_average") or {}).get("series", [])
    }
    previous = {s["key"]: s["total"] for s in (report.get("previous") or {}).get("series", [])}
    header = ["series", "label", "t", report["metric"]]
    if report.get("moving_average"):
        header.append("moving_average")
    if report.get("previous"):
        header.append("previous_total")
    writer.writerow(header)
    for series in report["series"]:
        for i, point in enumerate(series["points"]):
            row = [series["key"], series["label"], point["t"], point["value"]]
            if report.get("moving_average"):
                row.append(averages.get(series["key"], [None] * (i + 1))[i])
            if report.get("previous"):
                row.append(previous.get(series["key"]))
            writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def top_csv(metric: str, items: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["key", "label", metric])
    for item in items:
        writer.writerow([_cell(item["key"]), _cell(item["label"]), item["value"]])
    return out.getvalue()
