"""An early pytest plugin for ``make test`` (``-p tests.skip_slow_imports``): jsonschema's optional
IRI format checker is not imported in the pytest processes, as `audit run` does not import it
(``runner.skip_slow_optional_imports``).

nbval's plugin imports nbformat, hence jsonschema, which imports ``rfc3987_syntax`` when it is
installed (JupyterLab's jupyter-events pulls it in); that package builds a Lark grammar at
import, about 1.1 s of CPU per process: the pytest controller and each xdist worker. No test
and no notebook schema uses an IRI format (tests/test_runner.py checks in a fresh process that
nbformat still validates the pipeline notebooks without it). Kernels, child runs and other
processes the tests start are not affected. It must load before nbval's plugin, so it is
given with ``-p`` (a conftest.py loads too late); without it the suite runs the same, ~1 s
slower per process.
"""
import sys

if "rfc3987_syntax" not in sys.modules:
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import now raises ImportError
