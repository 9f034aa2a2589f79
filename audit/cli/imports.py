"""`audit import-usage`: provider usage exports, gateway logs and billing -> the canonical usage
log, written so the mapping can be reviewed and reused; and the ``--from`` choices that
``audit estimate-usage`` shares."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from audit.cli.common import DebugOpt, app, guard
from audit.core.exceptions import InputError
from audit.inventory.usage_import import ADAPTERS, Options, read_usage, write_canonical
from audit.inventory.usage_import.reading import expand

FromFormat = Enum("FromFormat", {name.replace("-", "_"): name for name in ("auto", *ADAPTERS)}, type=str)
FROM_HELP = ("Log format: auto (recognised from the fields, and said), or " + ", ".join(ADAPTERS) + ".")
MEAN_HELP = ("Mean output tokens per request, for exports without a request count (anthropic-usage, "
             "gcp-billing); recorded as an assumption.")


@app.command("import-usage")
@guard
def import_usage_cmd(
    log: Annotated[list[str], typer.Argument(help="Usage exports: files, folders or quoted globs; .gz read too.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Canonical log to write (.parquet or .csv); the "
                                                          "media log and the model-name readings go beside it.")],
    from_: Annotated[FromFormat, typer.Option("--from", help=FROM_HELP)] = FromFormat.auto,
    mean_output_tokens: Annotated[Optional[float], typer.Option("--mean-output-tokens", min=1,
                                                                help=MEAN_HELP)] = None,
    stage: Annotated[str, typer.Option(help="Stage label for every row read.")] = "",
    debug: DebugOpt = False,
):
    """Read provider usage exports into the canonical usage log, so the mapping can be reviewed and reused.

    Example:  audit import-usage exports/openai/*.json --from openai-usage --out usage.parquet

    Example:  audit import-usage bedrock-logs/ --out usage.parquet
    """
    source = log if len(log) > 1 else log[0]
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InputError(f"--out {out}: name a .parquet or .csv file")
    if out.resolve() in {f.resolve() for f in expand(source)}:
        raise InputError(f"--out {out}: is one of the input exports; writing there would overwrite it")
    result = read_usage(source, from_.value, options=Options(mean_output_tokens_per_request=mean_output_tokens,
                                                             stage=stage))
    written = write_canonical(result, out)
    for line in result.messages():
        typer.echo(line, err=True)
    typer.echo(f"{len(result.llm):,} rows ({int(result.llm['requests'].sum()):,} requests), "
               f"{len(result.media):,} image/video rows; written: {', '.join(map(str, written))}")
