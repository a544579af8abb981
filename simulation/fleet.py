"""The compute side of a simulated cloud: one compute agent per host.

Agents are ``ComputeAgent``s over a FakeDriver, the same class ``hoststate
compute`` runs. What a simulation adds:

* **seeding** (``seed``): the rows of every host, and the pre-filled
  instances, inserted in bulk;
* **lazy start**: an agent starts (``ComputeAgent.start``: finds its
  service and node, recounts) the first time it has work: an instance to
  adopt, one to delete, or its periodic update;
* **heartbeats** for every host through the configured servicegroup
  driver in bulk (``join_many``), the hosts to be killed on a driver of
  their own so they can crash alone (``abandon``: no goodbye, they are
  seen down only when the backend notices);
* **periodic updates** in a background thread, each started agent once
  per ``update_resources_interval``.
"""
import contextlib
import heapq
import logging
import threading
import time

from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import host_rows
from hoststate.resource_tracker import fake_driver
from hoststate.servicegroup import api as sg_api
from hoststate.simulation import cloud
from hoststate.simulation import seed as seed_mod
from hoststate.simulation import threads

LOG = logging.getLogger(__name__)


class Fleet:
    """The agents of ``hosts`` (``cloud.SimHost``) on ``context``'s database."""

    def __init__(self, context, conf, hosts, victims=()):
        self.context = context
        self.conf = conf
        self.hosts = {h.host: h for h in hosts}
        self.victims = set(victims)
        self.agents = {}
        self.dead = set()
        #: instance uuid -> (Instance, host) of the living instances that
        #: will be deleted; those that live through the run are counted
        self.instances = {}
        self.permanent = 0
        self.liveness = None
        self.victim_liveness = None
        self._stop = threading.Event()
        self._periodic = None
        self._interval = float("inf")
        #: heap of (monotonic time of the next periodic update, host)
        self._due = []
        self._lock = threading.Lock()
        self.periodic_updates = 0
        #: instances placed before the run (they live through it)
        self.prefilled = 0
        #: with ``simulate --transport-url``: the agents work through the
        #: bus's conductor (``simulation.bus.Bus``); None: on the database
        self.bus = None

    def _agents_calling(self):
        """The block's agent work goes through the conductor on a bus."""
        return self.bus.agents_calling() if self.bus is not None \
            else contextlib.nullcontext()

    def _agent_context(self, host):
        return self.bus.agent_context(host) if self.bus is not None \
            else self.context

    # --- the database ---------------------------------------------------------

    def seed(self, prefill=0.0, seed=0):
        """Insert every host's service and node, the aggregates and the
        pre-filled instances (see ``seed``); their number."""
        self.prefilled = seed_mod.seed(self.context, self.conf,
                                       list(self.hosts.values()), prefill, seed)
        return self.prefilled

    # --- liveness -----------------------------------------------------------------

    def join(self):
        """Every host joins the service group; victims on a driver of their
        own, which ``kill`` makes crash."""
        services = seed_mod.compute_services(self.context)
        self.liveness = self._liveness_api()
        self.victim_liveness = self._liveness_api() if self.victims else None
        members = {True: [], False: []}
        for host, service in services:
            members[host in self.victims].append(
                (host, service_obj.COMPUTE_TOPIC, service))
        self.liveness.join_many(members[False])
        if self.victim_liveness is not None:
            self.victim_liveness.join_many(members[True])

    def _liveness_api(self):
        """The configured driver, reporting at once: a simulated host is
        born up, and a first heartbeat only after the usual start-up delay
        could come after a short service_down_time."""
        options = {}
        if self.conf.servicegroup_driver in ("db", "mc"):
            options["initial_delay"] = 0.0
        return sg_api.API(self.conf, self.context, **options)

    def kill(self):
        """The victims crash: no more heartbeats, periodic updates or work."""
        with self._lock:
            self.dead |= self.victims
        if self.victim_liveness is not None:
            self.victim_liveness.abandon()

    # --- agents -----------------------------------------------------------------------

    def agent(self, host):
        """``host``'s agent, started on first use."""
        with self._lock:
            agent = self.agents.get(host)
            if agent is None:
                sim_host = self.hosts[host]
                driver = fake_driver.FakeDriver(
                    {sim_host.nodename: cloud.inventory(sim_host)})
                agent = agent_mod.ComputeAgent(self._agent_context(host),
                                               driver, host)
                with self._agents_calling():
                    agent.start()
                self.agents[host] = agent
                heapq.heappush(self._due,
                               (time.monotonic() + self._interval, host))
            return agent

    def is_dead(self, host):
        return host in self.dead

    def adopt(self, instance_uuid, host, nodename, deletable=True):
        """The agent takes the instance the scheduler placed on its node:
        its tracker adopts the scheduler's claim (nothing is written).
        Only an instance that will be deleted is kept (about 4 KiB each),
        the others are counted."""
        agent = self.agent(host)
        with self._agents_calling():
            # the instance and its claim's ledger rows in one read, as the
            # conductor would hand the instance over with the build
            instance, held = host_rows.placed_instance(agent.context,
                                                       instance_uuid)
            with agent.instance_claim(instance, nodename, held=held):
                pass                # a hypervisor would spawn it here
        if deletable:
            self.instances[instance_uuid] = (instance, host)
        else:
            self.permanent += 1

    def living(self):
        """Instances alive on the agents, pre-filled ones included."""
        return len(self.instances) + self.permanent + self.prefilled

    def node_of(self, instance_uuid):
        """(host, nodename) of a living instance that will be deleted."""
        instance, host = self.instances[instance_uuid]
        return host, instance.node

    def delete(self, instance_uuid):
        """Delete an instance on its agent: row deleted, usage given back.
        False when its agent is dead (the instance stays, as Nova's would
        until the host comes back).

        In this order, as Nova's compute manager does: a periodic recount
        between the two steps then finds the instance gone and counts
        without it (the give-back after it finds nothing to give). The
        other order leaves a window in which a recount counts the deleted
        instance back onto its node, after its usage was given back.
        """
        instance, host = self.instances[instance_uuid]
        if host in self.dead:
            return False
        agent = self.agent(host)
        with self._agents_calling():
            instance.destroy()
            instance.vm_state = states.DELETED  # destroy read the row back
            instance.task_state = None
            agent.tracker(instance.node).update_usage(instance)
        del self.instances[instance_uuid]
        return True

    # --- periodic updates ---------------------------------------------------------------

    def start_periodic(self, interval):
        """Run each living agent's periodic update every ``interval``
        seconds from its start (as nova-compute's periodic task does), in
        a background thread."""
        if interval <= 0:
            return
        self._interval = interval
        self._periodic = threading.Thread(
            target=self._run_periodic, daemon=True,
            name="simulation-periodic-updates")
        self._periodic.start()

    def _run_periodic(self):
        while not self._stop.is_set():
            with self._lock:
                due = self._due[0] if self._due else None
            if due is None:
                self._stop.wait(0.5)
                continue
            at, host = due
            if self._stop.wait(max(0.0, at - time.monotonic())):
                return
            with self._lock:
                if self._due[0] != due:
                    continue        # an agent started meanwhile is due first
                if host in self.dead:
                    heapq.heappop(self._due)
                    continue
                heapq.heapreplace(self._due, (time.monotonic() +
                                              self._interval, host))
            with self._agents_calling():
                errors = self.agents[host].update_available_resource()
            self.periodic_updates += 1
            if errors:
                LOG.warning("periodic update of %s: %s", host, errors)

    def stop(self):
        """Stop the periodic updates and the heartbeats; the names of the
        threads still running (a recount stuck in the database) after
        ``threads.STOP_TIMEOUT_S``: nobody may read the report's figures
        while one of them can still write."""
        self._stop.set()
        stuck = threads.stop_all([self._periodic])
        for liveness in (self.liveness, self.victim_liveness):
            if liveness is not None:
                liveness.stop()
        return stuck

