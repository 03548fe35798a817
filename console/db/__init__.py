"""Storage: engine, models, migrations and the few SQL pieces that differ between dialects."""
