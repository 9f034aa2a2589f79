"""Deliverables: charts, tables, process map, Excel and HTML/PDF reports."""
