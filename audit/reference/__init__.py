"""Reference data: the factor register, scope rules, vocabularies, settings files, hourly profiles."""
