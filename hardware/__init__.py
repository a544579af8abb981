"""Pure fitting math shared by the resource tracker and the scheduler: NUMA cell fitting and CPU pinning, PCI pools and requests, usage arithmetic."""
