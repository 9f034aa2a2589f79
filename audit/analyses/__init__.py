"""Analyses on an inventory: forecast, interventions, customisation, scorecard, shifting."""
