"""`audit export-manifest` (Impact Framework manifest) and `audit compare` (period over period)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from audit.cli.common import DebugOpt, Format, app, guard
from audit.core.exceptions import InputError
from audit.core.paths import make_folder

# The toolkit's heavier modules load inside each command (as in audit/cli/engagement.py), so that
# other commands (estimate-usage) do not import the estimator, the analyses and the deliverables.


def read_results_json(path: Path, label: str) -> dict[str, Any]:
    """A results.json as a mapping; a missing or malformed file is a located user error."""
    if path.is_dir():
        candidate = path / "results.json"
        if not candidate.is_file():
            raise InputError(f"{label} {path}: a folder without results.json (give an audit run's output folder "
                             "or its results.json)")
        path = candidate
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{label} {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{label} {path}: not a readable results.json ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{label} {path}: not a results.json object")
    return data


@app.command("export-manifest")
@guard
def export_manifest(
    source: Annotated[Path, typer.Argument(help="A results.json (or an audit run's output folder), or an "
                                                "engagement folder (estimated now).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The manifest file to write, e.g. manifest.if.yaml.")],
    debug: DebugOpt = False,
):
    """Write a Green Software Foundation Impact Framework manifest of an audit.

    Each energy-based line is a component whose inputs are its kWh and grid intensity; the
    builtin Multiply, Sum and Divide plugins compute kgCO2e and IF's aggregation the totals.

    Example:  audit export-manifest out/results.json --out manifest.if.yaml
    Then:     if-run -m manifest.if.yaml   (npm @grnsft/if)
    """
    from audit.deliverables.impact_manifest import IF_PACKAGE, IF_VERSION, write_manifest  # noqa: PLC0415 - CLI: only this command

    if (source / "engagement.yaml").is_file():
        from audit.inventory.estimate import estimate as run_estimate  # noqa: PLC0415 - CLI: only this command
        from audit.inventory.intake import load_engagement  # noqa: PLC0415 - CLI: only this command
        from audit.inventory.results import from_estimate  # noqa: PLC0415 - CLI: only this command

        loaded = load_engagement(source)
        results = from_estimate(run_estimate(loaded), loaded.warnings).to_json_dict(include_feasibility=False)
    else:
        results = read_results_json(source, "RESULTS")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give a file name such as {out / 'manifest.if.yaml'}")
    write_manifest(results, out)
    typer.echo(f"Wrote {out}. Recompute with {IF_PACKAGE} {IF_VERSION}: if-run -m {out}")


@app.command("compare")
@guard
def compare_cmd(
    base: Annotated[Path, typer.Argument(help="The earlier period's results.json (or its run's output folder).")],
    new: Annotated[Path, typer.Argument(help="The later period's results.json (or its run's output folder).")],
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json (shape in README).")] = Format.table,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the comparison as an HTML page.")] = None,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="Also write the comparison as an Excel workbook.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="A folder to write compare.html and compare.xlsx "
                                                              "into.")] = None,
    debug: DebugOpt = False,
):
    """Compare two periods: change by scope, stage and kind, per functional unit (SCI) and
    against the reduction target in the newer engagement.yaml (reduction_target_per_year).

    Example:  audit compare out-2025/results.json out-2026/results.json --out compare-2026
    """
    from audit.analyses.compare import compare, compare_table  # noqa: PLC0415 - CLI: only this command
    from audit.deliverables.summary_pages import (  # noqa: PLC0415 - CLI: only this command
        COMPARE_HTML, COMPARE_XLSX, write_compare_html, write_compare_xlsx)

    result = compare(read_results_json(base, "BASE"), read_results_json(new, "NEW"),
                     base_label=str(base), new_label=str(new))
    if out is not None:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: is a file, not a folder")
        make_folder(out, f"--out {out}: cannot create this folder")
        html = html or out / COMPARE_HTML
        xlsx = xlsx or out / COMPARE_XLSX
    if html is not None:
        write_compare_html(result, html)
    if xlsx is not None:
        write_compare_xlsx(result, xlsx)
    if format is Format.json:
        typer.echo(json.dumps(result, indent=2, allow_nan=False, ensure_ascii=False))
    else:
        typer.echo(compare_table(result))
    for path in (html, xlsx):
        if path is not None:
            typer.echo(f"Wrote {path}", err=True)

