"""The usage dashboard's charts, drawn from its figures (``assistant.usage.selectors``)."""

from __future__ import annotations

from collections.abc import Callable

from assistant.usage.selectors import UsageDashboard
from assistant.usage.svg_charts import Chart, ChartSpec, Series, TableColumn, bar_chart, plain_number


def dollars(value: float) -> str:
    return f"${value:,.4f}"


def milliseconds(value: float) -> str:
    return f"{value:,.1f} ms"


def share(part: int, whole: int) -> str:
    """As ``manage.py usage`` writes a share: "60.0%"; "-" when nothing was asked."""
    return f"{part / whole:.1%}" if whole else "-"


def dashboard_charts(dashboard: UsageDashboard) -> dict[str, Chart]:
    """Questions, LLM use, tokens and cost per day, and latency per stage, each as SVG and a table."""
    days = dashboard.by_day
    labels = tuple(day.day.isoformat() for day in days)
    short = tuple(f"{day.day:%b} {day.day.day}" for day in days)

    def daily(
        chart_id: str,
        title: str,
        *series: Series,
        stacked: bool = False,
        value_format: Callable[[float], str] = plain_number,
        table_columns: tuple[TableColumn, ...] = (),
    ) -> Chart:
        spec = ChartSpec(
            chart_id=chart_id,
            title=title,
            labels=labels,
            series=series,
            stacked=stacked,
            axis_labels=short,
            value_format=value_format,
            table_columns=table_columns,
        )
        return bar_chart(spec)

    latency = dashboard.latency
    return {
        "questions": daily(
            "questions", "Questions per day", Series("Questions", tuple(d.answers for d in days))
        ),
        "llm": daily(
            "llm",
            "Answers with and without an LLM call per day",
            Series("Without an LLM", tuple(d.without_llm for d in days)),
            Series("With an LLM call", tuple(d.llm_calls for d in days)),
            stacked=True,
            table_columns=(
                TableColumn("Share without an LLM", tuple(share(d.without_llm, d.answers) for d in days)),
            ),
        ),
        "tokens": daily("tokens", "LLM tokens per day", Series("Tokens", tuple(d.tokens for d in days))),
        "cost": daily(
            "cost",
            "Estimated LLM cost per day (USD)",
            Series("Cost", tuple(d.cost_usd for d in days)),
            value_format=dollars,
        ),
        "latency": bar_chart(
            ChartSpec(
                chart_id="latency",
                title="Latency per stage (p50 and p95)",
                labels=tuple(stage.label for stage in latency),
                series=(
                    Series("p50", tuple(stage.p50_ms for stage in latency)),
                    Series("p95", tuple(stage.p95_ms for stage in latency)),
                ),
                label_heading="Stage",
                value_format=milliseconds,
            )
        ),
    }
