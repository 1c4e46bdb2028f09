"""Where a run's table comes from: one source class per kind, chosen once by ``data.table.open_source``."""
