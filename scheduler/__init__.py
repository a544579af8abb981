"""The scheduler: HostManager, the columnar host-state table, filters, weighers and select_destinations."""
