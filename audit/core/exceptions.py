"""Typed exceptions. User mistakes are ``InputError``; the CLI prints them without a traceback.

Hierarchy::

    AuditError
    ├── InputError            a file the consultant or client supplied is wrong
    │   └── ValidationError   one or more located problems (file, sheet, row, column)
    ├── FactorError           no emission factor covers an activity
    └── ExecutionError        a notebook or batch step failed
"""
from __future__ import annotations

from dataclasses import dataclass, field


class AuditError(Exception):
    """Base class for every error the toolkit raises on purpose."""

    exit_code = 1


class InputError(AuditError):
    """Something the user supplied is wrong. Shown without a traceback, exit status 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file. Row numbers are as a person sees them in the
    file: for CSV and Excel the header is row 1, so the first activity is row 2."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    sheet: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        is_yaml = self.file.lower().endswith((".yaml", ".yml"))
        where = [self.file]
        if self.sheet:
            where.append(f"sheet '{self.sheet}'")
        if self.row is not None:
            where.append(f"{'line' if is_yaml else 'row'} {self.row}")
        if self.column:
            where.append(f"{'key' if is_yaml else 'column'} '{self.column}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class ValidationError(InputError):
    """All the problems found in one file (or engagement) at once, not one per run."""

    problems: list[Problem] = field(default_factory=list)
    total: int | None = None  # problems found, when only the first ones are listed

    def __post_init__(self) -> None:
        # Read top to bottom: file-level problems first, then by row (stable within a row).
        self.problems = sorted(self.problems, key=lambda p: (p.file, p.sheet or "", p.row or 0))
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} found:"
        if self.total is not None and self.total > n:
            head = f"{self.total:,} problems found; these are the first:"
        return "\n".join([head, *(f"  - {p}" for p in self.problems)])


class FactorError(AuditError):
    """No factor in the register covers an activity (a gap in data, not in the input)."""


class ExecutionError(AuditError):
    """A pipeline step (notebook, report writer) failed."""
