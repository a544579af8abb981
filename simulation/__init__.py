"""``hoststate simulate``: a whole cloud in one process.

Compute agents with fake hypervisors (``cloud``), a stream of boot
requests with lifetimes (``workload``), the agents' side of a cloud
(``fleet``: trackers, heartbeats, deletes, crashes), a scheduler placing
the stream (``runner``) and what it all comes to (``report``, ``plot``).
Everything runs against a real database through the same code a
deployment runs; only the hypervisors are made up.
"""
