"""InstanceGroup and its list against SQLite, PostgreSQL and MariaDB."""
import pytest
import sqlalchemy as sa

from hoststate import context as hs_context
from hoststate import exception
from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.objects import base
from hoststate.objects.instance_group import InstanceGroup, InstanceGroupList

I1, I2, I3, I4 = (f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-0000-0000-000000000000"
                  for n in "1234")
TABLES = (schema.instance_groups, schema.instance_group_policy,
          schema.instance_group_member)


def _snapshot(ctx):
    with ctx.engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(
            sa.select(t).order_by(t.c.id))] for t in TABLES}


EMPTY = {t.name: [] for t in TABLES}


def _group(ctx, policy="anti-affinity", **values):
    group = InstanceGroup(ctx, **{"name": "g", "policy": policy, **values})
    group.create()
    return group


def _primitive_data(primitive):
    return primitive["hoststate_object.data"]


# --- create and get --------------------------------------------------------

def test_create_then_get_returns_equal_objects(ctx):
    created = _group(ctx, rules={"max_server_per_host": "2"},
                     members=[I1, I2], user_id="u", project_id="p")

    loaded = InstanceGroup.get_by_uuid(ctx, created.uuid)

    assert loaded == created
    assert (loaded.name, loaded.policy, loaded.rules, loaded.members,
            loaded.user_id, loaded.project_id) == (
        "g", "anti-affinity", {"max_server_per_host": "2"}, [I1, I2], "u", "p")
    assert not loaded.obj_attr_is_set("hosts")
    assert not loaded.obj_what_changed()


def test_create_defaults_owner_from_context(database):
    ctx = hs_context.RequestContext(engine=database.engine, user_id="alice",
                                    project_id="proj")
    group = _group(ctx, policy="affinity")

    assert (group.user_id, group.project_id, group.rules, group.members) == (
        "alice", "proj", {}, [])


def test_create_refuses_no_policy_and_a_second_create(ctx):
    with pytest.raises(exception.ObjectActionError, match="policy"):
        InstanceGroup(ctx, name="g").create()
    assert _snapshot(ctx) == EMPTY
    group = _group(ctx)
    with pytest.raises(exception.ObjectActionError, match="already created"):
        group.create()
    assert len(_snapshot(ctx)["instance_groups"]) == 1


def test_duplicate_uuid_writes_nothing(ctx):
    first = _group(ctx, members=[I1])
    before = _snapshot(ctx)

    with pytest.raises(exception.DuplicateRecord):
        _group(ctx, uuid=first.uuid, members=[I2])
    assert _snapshot(ctx) == before


def test_get_missing_raises_instance_group_not_found(ctx):
    with pytest.raises(exception.InstanceGroupNotFound) as raised:
        InstanceGroup.get_by_uuid(ctx, I1)
    assert raised.value.key == I1
    with pytest.raises(exception.InstanceGroupNotFound):
        InstanceGroup.get_by_instance_uuid(ctx, I1)


# --- rules -----------------------------------------------------------------

# (policy, rules, accepted?)
RULE_CASES = [
    ("anti-affinity", {}, True),
    ("anti-affinity", {"max_server_per_host": "1"}, True),
    ("anti-affinity", {"max_server_per_host": 3}, True),   # int coerced to "3"
    ("anti-affinity", {"max_server_per_host": "0"}, False),
    ("anti-affinity", {"max_server_per_host": "-1"}, False),
    ("anti-affinity", {"max_server_per_host": "two"}, False),
    ("anti-affinity", {"max_server_per_host": "1.5"}, False),
    ("anti-affinity", {"max_servers": "2"}, False),         # unknown rule
    ("affinity", {"max_server_per_host": "2"}, False),
    ("soft-anti-affinity", {"max_server_per_host": "2"}, False),
    ("soft-affinity", {}, True),
]


@pytest.mark.parametrize("policy, rules, accepted", RULE_CASES)
def test_rules_are_checked_before_create(ctx, policy, rules, accepted):
    group = InstanceGroup(ctx, name="g", policy=policy, rules=rules)

    if accepted:
        group.create()
        assert InstanceGroup.get_by_uuid(ctx, group.uuid).rules == {
            k: str(v) for k, v in rules.items()}
        return
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        group.create()
    assert (raised.value.objname, raised.value.field) == (
        "InstanceGroup", "rules")
    assert _snapshot(ctx) == EMPTY


def test_rules_are_checked_before_save(ctx):
    group = _group(ctx, rules={"max_server_per_host": "2"})
    before = _snapshot(ctx)
    group.policy = "affinity"  # rules no longer allowed with this policy

    with pytest.raises(exception.ObjectFieldInvalid, match="rules"):
        group.save()
    assert _snapshot(ctx) == before

    group.rules = {}
    group.save()
    stored = InstanceGroup.get_by_uuid(ctx, group.uuid)
    assert (stored.policy, stored.rules) == ("affinity", {})


# --- bad input -------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("policy", "together"), ("members", "not-a-list"), ("rules", ["r"]),
    ("name", {"n": 1})])
def test_bad_values_name_the_field_and_write_nothing(ctx, field, value):
    with pytest.raises(exception.ObjectFieldInvalid) as raised:
        _group(ctx, **{"policy": "affinity", field: value})
    assert raised.value.field == field
    assert _snapshot(ctx) == EMPTY


def test_unknown_field_is_refused(ctx):
    with pytest.raises(exception.UnknownObjectField) as raised:
        _group(ctx, policies=["affinity"])
    assert raised.value.field == "policies"
    assert _snapshot(ctx) == EMPTY


# --- save and destroy ------------------------------------------------------

def test_save_writes_only_the_changed_fields(ctx):
    mine = _group(ctx, members=[I1])
    theirs = InstanceGroup.get_by_uuid(ctx, mine.uuid)
    theirs.project_id = "their-project"
    theirs.save()

    mine.name = "renamed"
    mine.save()

    stored = InstanceGroup.get_by_uuid(ctx, mine.uuid)
    assert (stored.name, stored.project_id) == ("renamed", "their-project")
    assert mine == stored and not mine.obj_what_changed()


def test_save_without_changes_or_only_hosts_does_not_write(ctx):
    group = _group(ctx)
    before = _snapshot(ctx)

    group.save()
    group.hosts = ["h1"]
    group.save()

    assert _snapshot(ctx) == before and group.hosts == ["h1"]


def test_save_replaces_the_members(ctx):
    group = _group(ctx, members=[I1, I2])
    group.members = [I2, I3, I3]

    group.save()

    assert group.members == [I2, I3]
    assert InstanceGroup.get_by_uuid(ctx, group.uuid).members == [I2, I3]


def test_save_or_destroy_of_a_destroyed_group_raises_not_found(ctx):
    group, other = _group(ctx, members=[I1]), _group(ctx, members=[I2])
    InstanceGroup.get_by_uuid(ctx, group.uuid).destroy()

    with pytest.raises(exception.InstanceGroupNotFound):
        InstanceGroup.get_by_uuid(ctx, group.uuid)
    group.name = "too late"
    with pytest.raises(exception.InstanceGroupNotFound):
        group.save()
    with pytest.raises(exception.InstanceGroupNotFound):
        group.destroy()
    snapshot = _snapshot(ctx)
    assert [len(snapshot[t.name]) for t in TABLES] == [1, 1, 1]
    assert InstanceGroup.get_by_uuid(ctx, other.uuid) == other


# --- members and hosts -----------------------------------------------------

def test_add_members_adds_only_new_ones(ctx):
    group = _group(ctx, members=[I1])

    added = InstanceGroup.add_members(ctx, group.uuid, [I1, I2, I3, I2])

    assert added == [I2, I3]
    assert InstanceGroup.get_by_uuid(ctx, group.uuid).members == [I1, I2, I3]
    assert InstanceGroup.add_members(ctx, group.uuid, [I3]) == []
    with pytest.raises(exception.InstanceGroupNotFound):
        InstanceGroup.add_members(ctx, I4, [I1])


def test_get_by_instance_uuid(ctx):
    _group(ctx, members=[I1])
    mine = _group(ctx, members=[I2, I3])

    assert InstanceGroup.get_by_instance_uuid(ctx, I3) == mine


@pytest.fixture
def placed(ctx):
    """Members I1 on h1, I2 on h2, I3 on h1, I4 deleted on h3."""
    with db_api.transaction(ctx) as conn:
        for uuid, host in ((I1, "h1"), (I2, "h2"), (I3, "h1"), (I4, "h3")):
            row = db_api.insert_row(conn, schema.instances,
                                    {"uuid": uuid, "host": host})
        db_api.delete_row(conn, schema.instances, row["id"])
    return _group(ctx, members=[I1, I2, I3, I4])


def test_get_hosts_reads_the_live_members_instances(ctx, placed):
    assert placed.get_hosts() == ["h1", "h2"]
    assert placed.get_hosts(exclude=[I2]) == ["h1"]
    assert placed.get_hosts(exclude=[I1, I2, I3]) == []


def test_hosts_load_on_first_access(ctx, placed):
    group = InstanceGroup.get_by_uuid(ctx, placed.uuid)

    assert group.hosts == ["h1", "h2"]
    assert not group.obj_what_changed()
    with pytest.raises(exception.ObjectActionError):
        InstanceGroup(ctx).members


# --- lists -----------------------------------------------------------------

def test_lists(ctx):
    a = _group(ctx, project_id="p1", members=[I1])
    b = _group(ctx, project_id="p2", policy="soft-affinity")
    c = _group(ctx, project_id="p1")

    assert list(InstanceGroupList.get_all(ctx)) == [a, b, c]
    found = InstanceGroupList.get_by_project_id(ctx, "p1")
    assert list(found) == [a, c]
    assert found._context is ctx and not found.obj_what_changed()
    assert list(InstanceGroupList.get_by_project_id(ctx, "p9")) == []


# --- versions --------------------------------------------------------------

def _group_in_memory(**values):
    values = {"id": 1, "uuid": I1, "name": "g", "policy": "anti-affinity",
              "rules": {"max_server_per_host": "2"}, "members": [I2], **values}
    group = InstanceGroup(**values)
    group.obj_reset_changes()
    return group


def test_backport_to_1_0_turns_policy_into_policies_and_drops_rules():
    primitive = _group_in_memory().obj_to_primitive(target_version="1.0")

    assert primitive["hoststate_object.version"] == "1.0"
    data = _primitive_data(primitive)
    assert data["policies"] == ["anti-affinity"]
    assert "policy" not in data and "rules" not in data
    assert data["members"] == [I2]


def test_backport_without_a_policy_sends_no_policies():
    group = InstanceGroup(uuid=I1, name="g")

    data = _primitive_data(group.obj_to_primitive(target_version="1.0"))

    assert data["policies"] == []


def test_1_0_primitive_is_read_as_1_1():
    primitive = _group_in_memory().obj_to_primitive(target_version="1.0")

    group = InstanceGroup.obj_from_primitive(primitive)

    assert group.VERSION == "1.1"
    assert (group.policy, group.rules, group.members) == (
        "anti-affinity", {}, [I2])


def test_current_primitive_round_trips():
    group = _group_in_memory()

    assert InstanceGroup.obj_from_primitive(group.obj_to_primitive()) == group


def test_list_backport_follows_the_manifest():
    groups = InstanceGroupList(objects=[_group_in_memory()])
    manifest = dict(base.ovo_base.obj_tree_get_versions("InstanceGroupList"),
                    InstanceGroup="1.0")

    primitive = groups.obj_to_primitive(target_version="1.0",
                                        version_manifest=manifest)

    (child,) = _primitive_data(primitive)["objects"]
    assert child["hoststate_object.version"] == "1.0"
    assert _primitive_data(child)["policies"] == ["anti-affinity"]
