"""Move claims: resize, cold migration, evacuation (rebuild) and live migration.

The destination claims the new flavor, NUMA and PCI; the migration context
on the instance keeps both sides until the move is confirmed (the source
drops the old side) or reverted (the destination drops the new side).
Mixed into ResourceTracker: it uses the tracker's lock, node and writes.
"""
import contextlib
import dataclasses

from oslo_utils import uuidutils

from hoststate import exception
from hoststate.conf import CONF
from hoststate.hardware import usage as hw_usage
from hoststate.objects import migration as migration_obj
from hoststate.objects import migration_context as mc_obj
from hoststate.hardware import consumption as cons

EVACUATION = "evacuation"
LIVE_MIGRATION = "live-migration"


@dataclasses.dataclass(frozen=True)
class MoveClaim:
    """What a move claim took at the destination, and the migration."""

    migration: object
    consumption: cons.Consumption


class MoveClaims:
    """The move-claim half of ResourceTracker."""

    def resize_claim(self, instance, new_flavor, migration=None,
                     image_meta=None):
        """Claim ``new_flavor`` here for a resize or cold migration of
        ``instance``; aborted (migration set to error) if the block raises."""
        move_type = "migration" if new_flavor.flavorid == \
            instance.flavor.flavorid else "resize"
        return self._claiming(instance, new_flavor, migration, move_type,
                              image_meta)

    def rebuild_claim(self, instance, migration=None, image_meta=None):
        """Claim ``instance`` here as it is, for an evacuation."""
        return self._claiming(instance, instance.flavor, migration,
                              EVACUATION, image_meta)

    def live_migration_claim(self, instance, migration=None, image_meta=None):
        """Claim ``instance`` here as it is, for a live migration."""
        return self._claiming(instance, instance.flavor, migration,
                              LIVE_MIGRATION, image_meta)

    @contextlib.contextmanager
    def _claiming(self, instance, flavor, migration, move_type, image_meta):
        """A move claim as a context manager: the new side is dropped and
        the migration set to error if the block raises."""
        claim = self._move_claim(instance, flavor, migration, move_type,
                                 image_meta)
        try:
            yield claim
        except Exception:
            self._drop_new_side(instance, claim.migration, "error")
            raise

    def drop_move_claim_at_source(self, instance, migration):
        """Confirm: the source gives back the old side of the move (the
        instance's row here), and the destination's row passes from the
        migration to the instance, in one transaction."""
        with self.lock:
            migration.status = "confirmed"
            migration.save()
            self._give_back_source(instance, migration)
            instance.migration_context = None
            _save(instance)

    def drop_evacuated_instance(self, instance, migration):
        """The source of an evacuation, back up, lets go of the instance
        that was rebuilt elsewhere (Nova's agent does it at start): its
        row here is given back, the destination's passes to the instance,
        and the migration is done."""
        with self.lock:
            self._give_back_source(instance, migration)
            migration.status = "done"
            migration.save()

    def _give_back_source(self, instance, migration):
        def give_back(node, edit):
            held = self._held(instance.uuid)
            if held is not None:
                cons.apply(node, cons.Consumption.held(held), -1)
                edit.removed.append(held)
            edit.rekeyed.append((migration.uuid, instance.uuid))
        self._edits += 1
        self._apply_with_retry(give_back)
        self.tracked_migrations.pop(instance.uuid, None)

    def drop_move_claim_at_dest(self, instance, migration):
        """Revert: the destination gives back the new side of the move, and
        the instance returns to its old flavor and NUMA topology."""
        self._drop_new_side(instance, migration, "reverted")

    def _drop_new_side(self, instance, migration, status):
        with self.lock:
            migration.status = status
            migration.save()
            # exactly what the ledger holds for the migration here, also
            # after a restart (the PCI devices and pinned cpus included)
            self.move_consumptions.pop(instance.uuid, None)
            self._edits += 1
            self._give_back(migration.uuid)
            context = instance.obj_get("migration_context")
            self.tracked_migrations.pop(instance.uuid, None)
            if context is not None:
                instance.flavor = context.old_flavor or instance.flavor
                instance.numa_topology = context.old_numa_topology
            instance.migration_context = None
            _save(instance)

    def _move_claim(self, instance, new_flavor, migration, move_type,
                    image_meta):
        with self.lock:
            self._require_enabled()
            wanted = cons.Consumption.of(
                new_flavor, hw_usage.is_boot_from_volume(instance),
                pci_requests=instance.obj_get("pci_requests"))
            requested_numa = self.numa_request(new_flavor, image_meta)
            migration = self._migration(instance, new_flavor, migration,
                                        move_type)
            fitted = self._take(wanted, requested_numa, migration.uuid,
                                instance.uuid)
            self._edits += 1
            if move_type == LIVE_MIGRATION:
                self._refuse_page_size_change(instance, fitted, migration)
            try:
                migration = self._record_migration(migration, move_type)
                instance.migration_context = mc_obj.MigrationContext(
                    instance_uuid=instance.uuid, migration_id=migration.id,
                    old_flavor=instance.flavor, new_flavor=new_flavor,
                    old_numa_topology=instance.obj_get("numa_topology"),
                    new_numa_topology=fitted.numa_topology,
                    old_pci_requests=instance.obj_get("pci_requests"),
                    new_pci_requests=instance.obj_get("pci_requests"))
                _save(instance)
            except Exception:
                self._give_back(migration.uuid)
                raise
            self.tracked_migrations[instance.uuid] = migration
            self.move_consumptions[instance.uuid] = fitted
        return MoveClaim(migration=migration, consumption=fitted)

    def _refuse_page_size_change(self, instance, fitted, migration):
        """A live guest cannot change its memory page size (Nova refuses
        the same): give the claim back and say why."""
        before = _first_page_size(instance.obj_get("numa_topology"))
        after = _first_page_size(fitted.numa_topology)
        if before != after:
            self._give_back(migration.uuid)
            raise exception.ComputeResourcesUnavailable(
                node=self.nodename,
                reasons=[f"NUMA: a live migration cannot change the page "
                         f"size from {before} to {after} KiB"])

    def _migration(self, instance, new_flavor, migration, move_type):
        """``migration``, or a new one (not stored yet), with the uuid
        the destination's ledger row is held by."""
        if migration is None:
            migration = migration_obj.Migration(
                self.context, instance_uuid=instance.uuid,
                source_compute=instance.obj_get("host"),
                source_node=instance.obj_get("node"),
                old_instance_type_id=instance.flavor.obj_get("id"),
                new_instance_type_id=new_flavor.obj_get("id"),
                migration_type=move_type, status="pre-migrating")
        if not migration.obj_attr_is_set("uuid"):
            migration.uuid = uuidutils.generate_uuid()
        return migration

    def _record_migration(self, migration, move_type):
        """Point ``migration`` at this node as destination and store it."""
        migration.dest_compute = self.host
        migration.dest_node = self.nodename
        migration.dest_compute_id = self.node.id
        migration.dest_host = CONF.my_ip
        if move_type != LIVE_MIGRATION:
            migration.status = "pre-migrating"
        if migration.obj_attr_is_set("id"):
            migration.save()
        else:
            migration.create()
        return migration


def _first_page_size(topology):
    if topology is None or not topology.cells:
        return None
    return topology.cells[0].obj_get("pagesize")


def _save(instance):
    if instance.obj_attr_is_set("id"):
        instance.save()
