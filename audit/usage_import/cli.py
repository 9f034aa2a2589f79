"""`audit import-usage` and the `--from` option for `audit estimate-usage`, ready to attach.

This module does not import audit.cli (the package is being split); the lead attaches it::

    from audit.usage_import.cli import register
    register(app, _guard)           # adds `audit import-usage`

and, for `audit estimate-usage LOG --from X`, calls ``read_for_estimate(log, from_, mean)``
to get a canonical DataFrame (plus the messages to print) before ``estimate_usage``.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from audit.usage_import import ADAPTERS, Options, read_usage, write_canonical

FromFormat = Enum("FromFormat", {name.replace("-", "_"): name for name in ("auto", *ADAPTERS)}, type=str)
FROM_HELP = ("Export format: auto (recognised from the fields) or " + ", ".join(ADAPTERS) + ".")
MEAN_HELP = ("Mean output tokens per request, for exports without a request count (anthropic-usage, "
             "gcp-billing); recorded as an assumption.")


def read_for_estimate(log: list[str], from_: str = "auto", mean_output_tokens: float | None = None,
                      engagement_aliases: dict | None = None):
    """(canonical LLM DataFrame, canonical media DataFrame, messages) for estimate-usage."""
    result = read_usage(log if len(log) > 1 else log[0], from_,
                        options=Options(mean_output_tokens_per_request=mean_output_tokens),
                        engagement_aliases=engagement_aliases)
    return result.llm, result.media, result.messages()


def register(app: typer.Typer, guard=lambda f: f) -> None:
    @app.command("import-usage")
    @guard
    def import_usage_cmd(
        log: Annotated[list[str], typer.Argument(help="Usage exports: files, folders or quoted globs; .gz read too.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Canonical log to write (.parquet or .csv); the "
                                                              "media log and the model-name readings go beside it.")],
        from_: Annotated[FromFormat, typer.Option("--from", help=FROM_HELP)] = FromFormat.auto,
        mean_output_tokens: Annotated[float | None, typer.Option("--mean-output-tokens", min=1, help=MEAN_HELP)] = None,
        stage: Annotated[str, typer.Option(help="Stage label for every row read.")] = "",
    ):
        """Read provider usage exports into the canonical usage log, so the mapping can be reviewed and reused.

        Example:  audit import-usage exports/openai/*.json --from openai-usage --out usage.parquet

        Example:  audit import-usage bedrock-logs/ --out usage.parquet
        """
        result = read_usage(log if len(log) > 1 else log[0], from_.value,
                            options=Options(mean_output_tokens_per_request=mean_output_tokens, stage=stage))
        written = write_canonical(result, out)
        for line in result.messages():
            typer.echo(line, err=True)
        typer.echo(f"{len(result.llm):,} rows ({int(result.llm['requests'].sum()):,} requests), "
                   f"{len(result.media):,} image/video rows; written: {', '.join(map(str, written))}")
