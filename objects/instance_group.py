"""InstanceGroup: a server group, whose policy the scheduler enforces.

A group has one policy (affinity, anti-affinity or their soft variants) and,
for anti-affinity, an optional ``max_server_per_host`` rule. The group row,
its policy and its members live in three tables of the API database
(``instance_groups``, ``instance_group_policy``, ``instance_group_member``);
the hosts of the members are not stored at all but read from the instances
table when asked (``get_hosts``), since they change with every move.
"""
import re

from oslo_serialization import jsonutils
from oslo_utils import uuidutils
from oslo_utils import versionutils

from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects import fields

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")

#: Rules each policy accepts. Only hard anti-affinity may relax itself.
RULES_BY_POLICY = {"anti-affinity": ("max_server_per_host",)}

_POSITIVE_INT = re.compile(r"[0-9]+")

_GROUP_COLUMNS = ("name", "user_id", "project_id")


def _check_rules(policy, rules):
    """Why ``rules`` cannot go with ``policy``, or None when they can."""
    allowed = RULES_BY_POLICY.get(policy, ())
    for key, value in sorted(rules.items()):
        if key not in allowed:
            return f"rule {key!r} is not valid with policy {policy!r}"
        if not _POSITIVE_INT.fullmatch(value) or int(value) < 1:
            return f"rule {key!r} must be a positive integer, not {value!r}"
    return None


def _members_of(conn, group_ids):
    """{group id: [instance uuid, ...]} in the order members joined."""
    found = {group_id: [] for group_id in group_ids}
    if group_ids:
        for row in db_api.select_rows(conn, schema.instance_group_member,
                                      group_id=list(group_ids)):
            found[row["group_id"]].append(row["instance_uuid"])
    return found


def _policies_of(conn, group_ids):
    """{group id: its instance_group_policy row}."""
    if not group_ids:
        return {}
    return {row["group_id"]: row for row in db_api.select_rows(
        conn, schema.instance_group_policy, group_id=list(group_ids))}


def _load_groups(conn, context, rows):
    ids = [row["id"] for row in rows]
    members, policies = _members_of(conn, ids), _policies_of(conn, ids)
    return [InstanceGroup._from_db_object(context, InstanceGroup(), row,
                                          policies.get(row["id"]),
                                          members[row["id"]])
            for row in rows]


# Version 1.0: initial version, with a ``policies`` list (of one entry)
# Version 1.1: ``policy`` (a single policy) and ``rules`` replace ``policies``
@base.HoststateObjectRegistry.register
class InstanceGroup(base.HoststateObject, base.TimestampedObject):
    VERSION = "1.1"

    fields = {
        "id": fields.IntegerField(read_only=True),
        "uuid": fields.UUIDField(read_only=True),
        "name": fields.StringField(nullable=True),
        "user_id": fields.StringField(nullable=True),
        "project_id": fields.StringField(nullable=True),
        "policy": fields.EnumField(POLICIES),
        "rules": fields.DictOfStringsField(default={}),
        # instance uuids (instance_group_member.instance_uuid is 36 long)
        "members": fields.ListOfStringsField(length=36, default=[]),
        # Not stored: loaded on first access from the members' instances.
        "hosts": fields.ListOfStringsField(nullable=True),
    }

    FIELDS_ADDED = {"policy": "1.1", "rules": "1.1"}

    # --- versions --------------------------------------------------------

    def obj_make_compatible(self, primitive, target_version):
        """Before 1.1 the policy travelled as a one-entry ``policies`` list.

        Rules cannot be expressed at 1.0 and are dropped, as Nova drops
        them: an old peer then applies strict anti-affinity, which is more
        conservative, never less.
        """
        policy = primitive.get("policy")
        super().obj_make_compatible(primitive, target_version)
        if _older_than_1_1(target_version):
            primitive["policies"] = [policy] if policy else []

    @classmethod
    def _obj_from_primitive(cls, context, objver, primitive):
        """Accept a 1.0 primitive by converting ``policies`` to ``policy``.

        The result holds 1.1 data, so it says it is 1.1: serialising it
        again for a 1.0 peer goes through the backport above.
        """
        if not _older_than_1_1(objver):
            return super()._obj_from_primitive(context, objver, primitive)
        key = cls._obj_primitive_key
        data = dict(primitive[key("data")])
        policies = data.pop("policies", None) or []
        if policies:
            data["policy"] = policies[0]
        data["rules"] = {}  # a 1.0 group has no rules
        changes = [("policy" if name == "policies" else name)
                   for name in primitive.get(key("changes"), [])]
        upgraded = dict(primitive, **{key("data"): data,
                                      key("changes"): changes})
        return super()._obj_from_primitive(context, cls.VERSION, upgraded)

    # --- database rows ---------------------------------------------------

    @staticmethod
    def _from_db_object(context, group, row, policy_row, members):
        base.load_row(group, context, row)
        if policy_row is not None:
            group.policy = policy_row["policy"]
            group.rules = jsonutils.loads(policy_row["rules"] or "{}")
        else:
            group.rules = {}
        group.members = list(members)
        group.obj_reset_changes()
        return group

    def obj_load_attr(self, attrname):
        """Only ``hosts`` loads lazily: it is read, never stored."""
        if attrname != "hosts":
            raise exception.ObjectActionError(
                action="obj_load_attr", reason=f"{attrname} is not set")
        self.hosts = self.get_hosts()
        self.obj_reset_changes(["hosts"])

    def _checked_rules(self):
        """The rules as stored (JSON), once they are valid for the policy."""
        reason = _check_rules(self.obj_get("policy"),
                              self.obj_get("rules", {}))
        if reason is not None:
            raise exception.ObjectFieldInvalid(
                objname=self.obj_name(), field="rules",
                value=self.obj_get("rules", {}), reason=reason)
        return jsonutils.dumps(self.obj_get("rules", {}))

    # --- reads -----------------------------------------------------------

    @classmethod
    @base.remotable
    def get_by_uuid(cls, context, group_uuid):
        with db_api.transaction(context) as conn:
            row = db_api.select_one(
                conn, schema.instance_groups,
                exception.InstanceGroupNotFound(key=group_uuid),
                uuid=group_uuid)
            return _load_groups(conn, context, [row])[0]

    @classmethod
    @base.remotable
    def get_by_instance_uuid(cls, context, instance_uuid):
        """The group ``instance_uuid`` is a member of."""
        with db_api.transaction(context) as conn:
            member = db_api.select_one(
                conn, schema.instance_group_member,
                exception.InstanceGroupNotFound(key=instance_uuid),
                instance_uuid=instance_uuid)
            row = db_api.select_one(
                conn, schema.instance_groups,
                exception.InstanceGroupNotFound(key=instance_uuid),
                id=member["group_id"])
            return _load_groups(conn, context, [row])[0]

    @base.remotable
    def get_hosts(self, exclude=None):
        """Sorted hosts of the live member instances not in ``exclude``.

        Deleted instances never count, whatever the context reads: a
        deleted member holds no place on its old host.
        """
        uuids = set(self.obj_get("members", [])) - set(exclude or ())
        if not uuids:
            return []
        with db_api.transaction(self._context) as conn:
            rows = db_api.select_rows(conn, schema.instances, "no",
                                      uuid=sorted(uuids))
        return sorted({row["host"] for row in rows if row["host"]})

    # --- writes ----------------------------------------------------------

    @base.remotable
    def create(self):
        """Insert the group, its policy and its members in one transaction."""
        if self.obj_attr_is_set("id"):
            raise exception.ObjectActionError(action="create",
                                              reason="already created")
        if not self.obj_attr_is_set("policy"):
            raise exception.ObjectActionError(action="create",
                                              reason="policy is not set")
        rules = self._checked_rules()
        if not self.obj_attr_is_set("uuid"):
            self.uuid = uuidutils.generate_uuid()
        for name in ("user_id", "project_id"):
            if not self.obj_attr_is_set(name):
                setattr(self, name, getattr(self._context, name, None))
        values = base.changed_columns(self, schema.instance_groups)
        with db_api.transaction(self._context) as conn:
            row = db_api.insert_row(conn, schema.instance_groups, values)
            db_api.insert_row(conn, schema.instance_group_policy, {
                "group_id": row["id"], "policy": self.policy, "rules": rules})
            _add_members(conn, row["id"], [], self.obj_get("members", []))
            group = _load_groups(conn, self._context, [row])[0]
        self._copy_stored(group)

    @base.remotable
    def save(self):
        """Write the changed fields; stored members become ``members``.

        ``hosts`` is never stored. To add members while others may be
        adding too, use ``add_members``: saving ``members`` replaces the
        stored list with this object's.
        """
        changed = self.obj_what_changed() - {"hosts"}
        if not changed:
            return
        rules = (self._checked_rules() if changed & {"policy", "rules"}
                 else None)
        try:
            with db_api.transaction(self._context) as conn:
                self._save_changes(conn, changed, rules)
                row = db_api.select_one(conn, schema.instance_groups,
                                        exception.NotFound(), id=self.id)
                group = _load_groups(conn, self._context, [row])[0]
        except exception.NotFound as exc:
            raise exception.InstanceGroupNotFound(key=self.uuid) from exc
        self._copy_stored(group)

    def _save_changes(self, conn, changed, rules):
        """Apply ``changed``; the group row's updated_at moves with any."""
        values = {n: getattr(self, n) for n in changed & set(_GROUP_COLUMNS)}
        db_api.update_row(conn, schema.instance_groups, self.id, values)
        if rules is not None:
            policy_row = _policies_of(conn, [self.id])[self.id]
            db_api.update_row(conn, schema.instance_group_policy,
                              policy_row["id"],
                              {"policy": self.policy, "rules": rules})
        if "members" in changed:
            stored = _members_of(conn, [self.id])[self.id]
            _remove_members(conn, self.id, set(stored) - set(self.members))
            _add_members(conn, self.id, stored, self.members)

    def _copy_stored(self, group):
        """Take every stored field of ``group``; keep loaded ``hosts``."""
        for name in self.fields:
            if name != "hosts" and group.obj_attr_is_set(name):
                setattr(self, name, getattr(group, name))
        self.obj_reset_changes(set(self.fields) - {"hosts"})

    @base.remotable
    def destroy(self):
        """Delete the group; policy and members go with it (cascade)."""
        try:
            with db_api.transaction(self._context) as conn:
                db_api.delete_row(conn, schema.instance_groups, self.id)
        except exception.NotFound as exc:
            raise exception.InstanceGroupNotFound(key=self.uuid) from exc

    @classmethod
    @base.remotable
    def add_members(cls, context, group_uuid, instance_uuids):
        """Add instances to a group; returns those that were not members.

        Adding a member twice is not an error: the scheduler may retry a
        build and add the same instance again.
        """
        with db_api.transaction(context) as conn:
            row = db_api.select_one(
                conn, schema.instance_groups,
                exception.InstanceGroupNotFound(key=group_uuid),
                uuid=group_uuid)
            stored = _members_of(conn, [row["id"]])[row["id"]]
            return _add_members(conn, row["id"], stored, instance_uuids)


def _older_than_1_1(version):
    return versionutils.convert_version_to_tuple(version) < (1, 1)


def _add_members(conn, group_id, stored, uuids):
    """Insert the ``uuids`` not in ``stored``, once each; return them."""
    stored = set(stored)
    new = [u for u in dict.fromkeys(uuids) if u not in stored]
    for instance_uuid in new:
        db_api.insert_row(conn, schema.instance_group_member,
                          {"group_id": group_id,
                           "instance_uuid": instance_uuid})
    return new


def _remove_members(conn, group_id, uuids):
    if not uuids:
        return
    for row in db_api.select_rows(conn, schema.instance_group_member,
                                  group_id=group_id,
                                  instance_uuid=list(uuids)):
        db_api.delete_row(conn, schema.instance_group_member, row["id"])


# Version 1.0: initial version
@base.HoststateObjectRegistry.register
class InstanceGroupList(base.HoststateObjectListBase, base.HoststateObject):
    VERSION = "1.0"

    fields = {"objects": fields.ListOfObjectsField("InstanceGroup")}

    @classmethod
    def _from_rows(cls, context, conn, rows):
        groups = cls(context, objects=_load_groups(conn, context, rows))
        groups.obj_reset_changes()
        return groups

    @classmethod
    @base.remotable
    def get_all(cls, context):
        with db_api.transaction(context) as conn:
            rows = db_api.select_rows(conn, schema.instance_groups)
            return cls._from_rows(context, conn, rows)

    @classmethod
    @base.remotable
    def get_by_project_id(cls, context, project_id):
        with db_api.transaction(context) as conn:
            rows = db_api.select_rows(conn, schema.instance_groups,
                                      project_id=project_id)
            return cls._from_rows(context, conn, rows)
