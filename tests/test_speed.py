"""Issue 16's structural speed-ups that a timing cannot show reliably: what a command imports,
the usage reader's memory settings, and the charts shown in notebooks."""
import subprocess
import sys

from audit.deliverables.figures import ChartSVG

HEAVY = ("audit.analyses.interventions", "audit.analyses.forecast", "audit.inventory.estimate", "audit.orchestration.runner", "pint", "matplotlib",
         "nbformat", "nbclient", "papermill", "codecarbon")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_estimate_usage_does_not_import_the_whole_package():
    loaded = _loaded_after("from audit.cli import app\nimport audit.inventory.usage")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_public_api_loads_on_first_use_with_the_analyses_registered():
    assert not _loaded_after("import audit") & set(HEAVY)
    loaded = _loaded_after("import audit\nassert audit.AuditResults.__name__ == 'AuditResults'\n"
                           "from audit.inventory.results import ANALYSES\nassert 'scorecard' in ANALYSES")
    assert "audit.analyses.registry" in loaded


def test_parquet_logs_are_read_without_pre_buffering(tmp_path, monkeypatch):
    """pyarrow's pre_buffer=True keeps each row group's raw bytes: memory grew with the log."""
    import pandas as pd
    import pyarrow.parquet as pq

    from audit.inventory.usage.chunks import parquet_meta

    path = tmp_path / "log.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)
    opened = []
    real = pq.ParquetFile

    def recording(*args, **kwargs):
        opened.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", recording)
    assert parquet_meta(path).read().num_rows == 2
    assert opened and all(kw.get("pre_buffer") is False for kw in opened)


def test_a_chart_shows_as_an_svg_image_sized_from_its_view_box():
    chart = ChartSVG('<svg viewBox="0 0 360 180" xmlns="http://www.w3.org/2000/svg"><text>a&lt;b</text></svg>',
                     title='Scope "1" <b>')
    html = chart._repr_html_()
    assert html.startswith('<img src="data:image/svg+xml;base64,') and 'width="480"' in html
    assert 'alt="Scope &quot;1&quot; &lt;b&gt;"' in html
    assert repr(chart) == '<chart: Scope "1" <b>>'
