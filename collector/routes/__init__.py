"""The HTTP API: handlers by audience (support, outages, agents, admin, ops),
their answer types (``types``), shared keys and helpers (``common``); the one
route table is ``collector.routes.table.ROUTES``. Nothing is imported here, so
importing ``collector.routes.types`` does not import every handler."""
