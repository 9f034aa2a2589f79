"""Derive data/factors/desnz.csv from the DESNZ transcription in this folder.

Run from the repository root:  python data/sources/build_desnz.py
The mapping below is the curation: which DESNZ row serves which (kind, mode, region).
Source: UK Government GHG Conversion Factors for Company Reporting (DESNZ), 2024 and 2025,
Open Government Licence v3.0. Values are kgCO2e per unit on the AR5 GWP basis.
"""
import csv
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "factors" / "desnz.csv"

HOTEL_ISO3 = {
    "UK": "GBR", "UK (London)": "GBR", "Australia": "AUS", "Belgium": "BEL", "Brazil": "BRA",
    "Canada": "CAN", "Chile": "CHL", "China": "CHN", "Colombia": "COL", "Costa Rica": "CRI",
    "Egypt": "EGY", "France": "FRA", "Germany": "DEU", "Hong Kong, China": "HKG", "India": "IND",
    "Indonesia": "IDN", "Italy": "ITA", "Japan": "JPN", "Jordan": "JOR", "Korea": "KOR",
    "Malaysia": "MYS", "Maldives": "MDV", "Mexico": "MEX", "Netherlands": "NLD", "Oman": "OMN",
    "Philippines": "PHL", "Portugal": "PRT", "Qatar": "QAT", "Russian Federation": "RUS",
    "Saudi Arabia": "SAU", "Singapore": "SGP", "South Africa": "ZAF", "Spain": "ESP",
    "Switzerland": "CHE", "Thailand": "THA", "Turkey": "TUR", "United Arab Emirates": "ARE",
    "United States": "USA", "Vietnam": "VNM", "Greece": "GRC", "Ireland": "IRL", "Israel": "ISR",
    "New Zealand": "NZL", "Poland": "POL", "Argentina": "ARG", "Austria": "AUT",
}
FUEL = {"Diesel (average biofuel blend)": "diesel", "Petrol (average biofuel blend)": "petrol", "LPG": "lpg"}
CAR_FUEL = {"Diesel": "diesel", "Petrol": "petrol", "Hybrid": "hybrid", "Unknown": "unknown",
            "Plug-in Hybrid Electric Vehicle": "phev", "Battery Electric Vehicle": "bev"}
FLIGHT = {"Domestic, to/from UK": "domestic", "Short-haul, to/from UK": "short_haul",
          "Long-haul, to/from UK": "long_haul", "International, to/from non-UK": "international"}
CABIN = {"Average passenger": "", "Economy class": "_economy", "Premium economy class": "_premium_economy",
         "Business class": "_business", "First class": "_first"}
LAND = {"Taxis > Regular taxi": "taxi", "Taxis > Black cab": "black_cab",
        "Bus > Local bus (not London)": "bus_local", "Bus > Local London bus": "bus_london",
        "Bus > Average local bus": "bus_average", "Bus > Coach": "coach",
        "Rail > National rail": "rail_national", "Rail > International rail": "rail_international",
        "Rail > Light rail and tram": "light_rail", "Rail > London Underground": "london_underground"}
FREIGHT_SIMPLE = {"Rail > Freight train": "rail_freight", "Cargo ship > Container ship > Average": "container_ship",
                  "HGV (all diesel) > All HGVs": "hgv_average"}


def classify(r):
    """Return (kind, mode, region, part) for a DESNZ row, or None to skip it."""
    cat, act, typ, unit = r["category"], r["activity"], r["type"], r["unit"]
    wtt = cat.startswith("WTT") or cat == "Transmission and distribution"
    part = "wtt" if cat.startswith("WTT") else ("td" if cat == "Transmission and distribution" else "direct")
    act = re.sub(r"^WTT- ", "", act)
    if cat in ("Fuels", "WTT- fuels") and unit == "litres":
        name = act.split(" > ")[-1]
        return ("fuel", FUEL[name], "", part) if name in FUEL else None
    if "Electricity: UK" in act:
        if "(T&D)" in act:
            part = "wtt_td"
        return ("electricity", "", "GBR", part)
    if act.startswith(("Flights >", "flights >")):
        _, leg, cabin = act.split(" > ")
        rf = "_rf" if typ == "With RF" else ""
        return ("travel", f"flight_{FLIGHT[leg]}{CABIN[cabin]}{rf}", "", part)
    if act.startswith(("Cars (by size)", "cars (by size)")) and cat in ("Business travel- land", "WTT- pass vehs & travel- land"):
        size = act.split(" > ")[1].split()[0].lower()
        return ("travel", f"car_{size}_{CAR_FUEL[typ]}", "", part)
    key = act.replace("taxis", "Taxis").replace("bus >", "Bus >").replace("rail >", "Rail >")
    if key in LAND and unit == "passenger.km":
        return ("travel", LAND[key], "", part)
    if cat in ("Freighting goods", "WTT- delivery vehs & freight") and unit == "tonne.km":
        if act.startswith(("Vans", "vans")):
            return ("freight", f"van_{CAR_FUEL[typ]}", "", part)
        if act.startswith(("Freight flights", "freight flights")):
            leg = act.split(" > ")[1]
            rf = "_rf" if typ == "With RF" else ""
            return ("freight", f"air_freight_{FLIGHT[leg]}{rf}", "", part)
        k = act.replace("cargo ship", "Cargo ship").replace("rail >", "Rail >").replace("HGV (all diesel)", "HGV (all diesel)")
        if k in FREIGHT_SIMPLE:
            return ("freight", FREIGHT_SIMPLE[k], "", part)
    if cat == "Hotel stay":
        country = act.split(" > ")[1]
        iso = HOTEL_ISO3.get(country)
        if iso is None:
            return None
        return ("accommodation", "london" if country == "UK (London)" else "", iso, part)
    return None


def main():
    rows = list(csv.DictReader(open(HERE / "desnz_factors.csv", encoding="utf-8")))
    out = []
    for r in rows:
        c = classify(r)
        if c is None:
            continue
        kind, mode, region, part = c
        m = re.search(r"row (\d+), ID ([0-9_]+)", r["source_path"])
        row_no, desnz_id = m.group(1), m.group(2)
        per = {"litres": "litre", "passenger.km": "passenger_km", "tonne.km": "tonne_km", "km": "vehicle_km",
               "kWh": "kWh", "Room per night": "room_night"}[r["unit"]]
        out.append({
            "factor_id": f"desnz-{r['year']}:{desnz_id}",
            "kind": kind, "mode": mode, "region": region, "part": part,
            "per_unit": per, "value": r["kgco2e_per_unit"], "unit": f"kgCO2e/{per}",
            "name": f"{r['category']} | {r['activity']}" + (f" | {r['type']}" if r["type"] else ""),
            "source": f"UK Government GHG Conversion Factors for Company Reporting (DESNZ), {r['year']}",
            "source_ref": f"Flat file, sheet 'Factors by Category', row {row_no}, factor ID {desnz_id}",
            "year": r["year"], "licence": "OGL-3.0",
            "notes": "AR5 GWP100 basis" + ("; per vehicle-km" if per == "vehicle_km" else ""),
        })
    with open(OUT, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    print(f"wrote {len(out)} factors to {OUT}")


if __name__ == "__main__":
    main()
