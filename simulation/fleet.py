"""The compute side of a simulated cloud: one compute agent per host.

Agents are ``ComputeAgent``s over a FakeDriver, the same class ``hoststate
compute`` runs. What a simulation adds:

* **seeding**: the services, nodes and aggregates of thousands of hosts
  are inserted in bulk, with the node rows a new agent would create
  (``periodic.baseline`` of the driver's inventory), so a cloud of
  100,000 hosts exists in seconds;
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
import heapq
import logging
import threading
import time
import uuid as uuid_lib

import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import instance as instance_obj
from hoststate.objects import service as service_obj
from hoststate.objects import states
from hoststate.resource_tracker import agent as agent_mod
from hoststate.resource_tracker import fake_driver
from hoststate.resource_tracker import periodic
from hoststate.servicegroup import api as sg_api
from hoststate.simulation import cloud

LOG = logging.getLogger(__name__)
_CHUNK = 2000


class Fleet:
    """The agents of ``hosts`` (``cloud.SimHost``) on ``context``'s database."""

    def __init__(self, context, conf, hosts, victims=()):
        self.context = context
        self.conf = conf
        self.hosts = {h.host: h for h in hosts}
        self.victims = set(victims)
        self.agents = {}
        self.dead = set()
        #: instance uuid -> (Instance, host) of instances alive on agents
        self.instances = {}
        self.liveness = None
        self.victim_liveness = None
        self._stop = threading.Event()
        self._periodic = None
        self._interval = float("inf")
        #: heap of (monotonic time of the next periodic update, host)
        self._due = []
        self._lock = threading.Lock()
        self.periodic_updates = 0

    # --- the database ---------------------------------------------------------

    def seed(self):
        """Insert every host's service and node, and the aggregates."""
        engine = db_api.engine_of(self.context)
        hosts = list(self.hosts.values())
        baselines = {m.name: self._baseline(m) for m in cloud.MODELS}
        now = db_api.utcnow()
        with engine.begin() as conn:
            for part in _chunks(hosts):
                conn.execute(sa.insert(schema.services), [dict(
                    uuid=_uuid5("service", h.host), host=h.host,
                    binary=service_obj.COMPUTE_BINARY,
                    topic=service_obj.COMPUTE_TOPIC, disabled=False,
                    forced_down=False, report_count=0, created_at=now,
                    updated_at=now, last_seen_up=now) for h in part])
            ids = dict(conn.execute(sa.select(schema.services.c.host,
                                              schema.services.c.id)).all())
            for part in _chunks(hosts):
                conn.execute(sa.insert(schema.compute_nodes), [dict(
                    baselines[h.model.name], uuid=h.node_uuid, host=h.host,
                    hypervisor_hostname=h.nodename, service_id=ids[h.host],
                    created_at=now, updated_at=now) for h in part])
            self._seed_aggregates(conn, now)

    def _baseline(self, model):
        host = cloud.SimHost("model", model, cloud.ZONES[0], 0)
        resources = fake_driver.FakeDriver(
            {host.nodename: cloud.inventory(host)}).get_available_resource(
                host.nodename)
        node = periodic.baseline(self.conf, resources, None)
        values = node._column_values(
            n for n in node.fields if node.obj_attr_is_set(n))
        for name in ("uuid", "host", "hypervisor_hostname", "service_id"):
            values.pop(name, None)
        return values

    def _seed_aggregates(self, conn, now):
        for name, members, metadata in cloud.aggregates(list(self.hosts.values())):
            aggregate_id = conn.execute(sa.insert(schema.aggregates).values(
                uuid=_uuid5("aggregate", name), name=name,
                created_at=now)).inserted_primary_key[0]
            for part in _chunks(members):
                conn.execute(sa.insert(schema.aggregate_hosts), [dict(
                    host=h, aggregate_id=aggregate_id, created_at=now)
                    for h in part])
            conn.execute(sa.insert(schema.aggregate_metadata), [dict(
                aggregate_id=aggregate_id, key=k, value=v, created_at=now)
                for k, v in metadata.items()])

    # --- liveness -----------------------------------------------------------------

    def join(self):
        """Every host joins the service group; victims on a driver of their
        own, which ``kill`` makes crash."""
        services = service_obj.ServiceList.get_by_binary(
            self.context, service_obj.COMPUTE_BINARY, include_disabled=True)
        self.liveness = self._liveness_api()
        self.victim_liveness = self._liveness_api() if self.victims else None
        members = {True: [], False: []}
        for service in services:
            members[service.host in self.victims].append(
                (service.host, service_obj.COMPUTE_TOPIC, service))
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
                agent = agent_mod.ComputeAgent(self.context, driver, host)
                agent.start()
                self.agents[host] = agent
                heapq.heappush(self._due,
                               (time.monotonic() + self._interval, host))
            return agent

    def is_dead(self, host):
        return host in self.dead

    def adopt(self, instance_uuid, host, nodename):
        """The agent takes the instance the scheduler placed on its node:
        its tracker adopts the scheduler's claim (nothing is written)."""
        agent = self.agent(host)
        instance = instance_obj.Instance.get_by_uuid(self.context,
                                                     instance_uuid)
        with agent.instance_claim(instance, nodename):
            pass                # a hypervisor would spawn it here
        self.instances[instance_uuid] = (instance, host)

    def delete(self, instance_uuid):
        """Delete an instance on its agent: usage given back, row deleted.
        False when its agent is dead (the instance stays, as Nova's would
        until the host comes back)."""
        instance, host = self.instances[instance_uuid]
        if host in self.dead:
            return False
        agent = self.agent(host)
        instance.vm_state = states.DELETED
        instance.task_state = None
        agent.tracker(instance.node).update_usage(instance)
        instance.destroy()
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
            errors = self.agents[host].update_available_resource()
            self.periodic_updates += 1
            if errors:
                LOG.warning("periodic update of %s: %s", host, errors)

    def stop(self):
        self._stop.set()
        if self._periodic is not None:
            self._periodic.join(timeout=30)
        for liveness in (self.liveness, self.victim_liveness):
            if liveness is not None:
                liveness.stop()


def _chunks(items, size=_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _uuid5(kind, name):
    return str(uuid_lib.uuid5(cloud.NODE_NAMESPACE, f"{kind}:{name}"))

