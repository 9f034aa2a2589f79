"""``audit new``: a fresh engagement folder a consultant can start filling in."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from audit.analyses.disclosures import scope3_exclusions_yaml
from audit.core.atomic import write_text
from audit.core.exceptions import InputError
from audit.core.models import ALL_COLUMNS, EXAMPLE_ROWS
from audit.core.paths import ACTIVITIES_FILE, ENGAGEMENT_FILE, make_folder, safe_child


DISCLOSURE_KEYS_HELP = """\
# Disclosures (optional; uncomment what applies):
# net_revenue: 2500000              # in the currency above: GHG intensity per net revenue (ESRS E1-6, VSME B3)
# reduction_target_per_year: 0.042  # 4.2 % a year, linear: what audit compare measures the next period against
# functional_units:                 # SCI per unit; R is counted for these four names, give R for others
#   - functional_unit: accepted asset
#   - functional_unit: 1,000 tokens
#   - functional_unit: image
#   - functional_unit: video-second
# client_brands:                    # brand client by stage or activity id (CDP allocation to customers)
#   Production: Example Brand
"""


def scaffold_engagement(name: str, parent: Path) -> Path:
    parent = Path(parent)
    if not name.strip():
        raise InputError("give the client's name, e.g. audit new \"Acme Studios\"")
    folder = safe_child(parent, name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder}: already exists and is not empty; choose another name or --dir")
    make_folder(folder, f"--dir {parent}: cannot create {folder.name} there")
    settings = {
        "client": name, "period": "2025", "currency": "GBP", "carbon_price_per_tonne": 85,
        "default_region": "GBR", "description": "", "consultant": "", "radiative_forcing": True,
        "effort_threshold_person_days": 15, "market_instruments": [], "assumptions": [],
        "stages": ["Ideation", "Pre-production", "Production", "Post-production", "Delivery"],
    }
    header = ("# Engagement settings. Keys are checked: a typo is an error, not ignored.\n"
              "# See README.md ('Contract') for every key and its default.\n")
    write_text(folder / ENGAGEMENT_FILE, header + yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
               + DISCLOSURE_KEYS_HELP + scope3_exclusions_yaml())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(ALL_COLUMNS), lineterminator="\n")
    w.writeheader()
    for row in EXAMPLE_ROWS:
        w.writerow(row)
    write_text(folder / ACTIVITIES_FILE, buf.getvalue())
    from audit.inventory.workbook import write_intake_workbook  # noqa: PLC0415 - loads openpyxl: only here

    write_intake_workbook(folder / "intake.xlsx", client=name)
    return folder
