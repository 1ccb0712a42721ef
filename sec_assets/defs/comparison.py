"""``octave_comparison``: over every evaluated octave, test macro-F1 and mAP with their 95 %
intervals against bands per octave, one line per feature set — "which resolution should I use?"."""

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset

from sec_assets.core.evaluation.comparison import at_chance, comparison_png, comparison_table, recommendation
from sec_assets.core.evaluation.report import AT_CHANCE, chance_cell, data_uri
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import ALL, asset_boundary, finish, md_table, upstream
from sec_assets.defs.evaluation import GROUP
from sec_assets.resources import SecResource

TITLE = "Which octave resolution?"


@asset(
    deps=[AssetDep("evaluation_report", partition_mapping=ALL)],
    code_version="2",
    group_name=GROUP,
    description="Every evaluated octave resolution side by side: test macro-F1 and macro mAP with "
    "95 % intervals (resampled by source file) against bands per octave, one line per feature set "
    "(its best head on validation), a table and a plot, and the recommended resolution (best "
    "validation macro-F1, ties to fewer bands). A row whose model is not clearly above chance on "
    "validation is marked in the table, hollow on the plot and listed in the metadata. Files under "
    "reports/octave_comparison/.",
    kinds={"parquet", "duckdb"},
)
@asset_boundary
def octave_comparison(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    home = sec.home_path
    octaves = [int(k) for k in catalog.query(home, "SELECT DISTINCT octave FROM evaluations")["octave"]]
    if not octaves:
        raise FileNotFoundError("no evaluation_report partition is materialized yet: materialize it first")
    table = comparison_table(
        catalog.query(home, "SELECT * FROM evaluations"), catalog.query(home, "SELECT * FROM models")
    )
    zero_shot = catalog.query(
        home, "SELECT avg(mean_average_precision) AS m FROM evaluations WHERE candidate = 'zero_shot'"
    )["m"][0]
    png = comparison_png(table, zero_shot)
    out = home / "reports" / "octave_comparison"
    best = recommendation(table)
    summary = "no octave has test figures"
    if best:
        summary = (
            f"recommended: 1/{best['octave']} octave with {best['feature_set']} (validation macro-F1 "
            f"{best['valid_macro_f1']:.3f}; test macro-F1 {best['test_macro_f1']:.3f} "
            f"[{_num(best['test_macro_f1_ci_low'])}, {_num(best['test_macro_f1_ci_high'])}])"
        )
    shown = table.with_columns(pl.col(pl.Float64).round(3))
    learned_nothing = at_chance(table)
    chance_note = ""
    if learned_nothing:
        chance_note = (
            f"{AT_CHANCE} on validation (not clearly above a uniform guess or the 95th percentile "
            f"with labels permuted across files; hollow on the plot): {', '.join(learned_nothing)}"
        )
        context.log.warning(chance_note)
    markdown = "\n".join(
        [
            f"# {TITLE}",
            "",
            summary,
            "",
            _markdown_rows(shown),
            "",
            "![comparison]({image})",
            "",
            "A feature set's row per octave is its candidate with the best validation macro-F1; "
            "intervals: bootstrap over source files.",
            *(["", chance_note] if chance_note else []),
        ]
    )
    storage.atomic_write_bytes(out / "comparison.png", png)
    storage.atomic_write_bytes(out / "comparison.md", markdown.replace("{image}", "comparison.png").encode())
    written = catalog.write_table_partition(home, "octave_comparison", {"scope": "all"}, table)
    storage.atomic_write_bytes(out / "comparison.csv", table.write_csv().encode())
    context.log.info(summary)
    return finish(
        context,
        sec=sec,
        partition_key="all",
        written=written,
        params={"octaves": sorted(octaves), "line": "best validation macro-F1 per feature set"},
        inputs=upstream(home, [("evaluation_report", str(n)) for n in sorted(octaves)]),
        metadata={
            "recommended_octave": int(best["octave"]) if best else 0,
            "recommended_feature_set": str(best["feature_set"]) if best else "none",
            "summary": summary,
            "at_chance": ", ".join(learned_nothing) or "none",
            "table": md_table(shown),
            "plot": MetadataValue.md(markdown.replace("{image}", data_uri(png))),
            "path": MetadataValue.path(str(out / "comparison.md")),
        },
    )


def _markdown_rows(table: pl.DataFrame) -> str:
    lines = [
        "| bands/octave | feature set | candidate | valid macro-F1 | valid vs chance "
        "| test macro-F1 [95 % CI] | test mAP [95 % CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.iter_rows(named=True):
        lines.append(
            f"| {r['octave']} | {r['feature_set']} | {r['candidate']} | {r['valid_macro_f1']:.3f} | "
            f"{chance_cell(r['valid_above_chance'])} | "
            f"{r['test_macro_f1']:.3f} [{_num(r['test_macro_f1_ci_low'])}, "
            f"{_num(r['test_macro_f1_ci_high'])}] | {r['test_map']:.3f} [{_num(r['test_map_ci_low'])}, "
            f"{_num(r['test_map_ci_high'])}] |"
        )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


ASSETS = [octave_comparison]
defs = Definitions(assets=ASSETS)
