"""What the conductor's tests and benchmarks share."""
from hoststate import context as hs_context


def agent_context(host="compute-1"):
    """What an agent without database access calls with."""
    return hs_context.RequestContext(engine=None, service_host=host,
                                     is_admin=True, roles=["admin"])


def claim_plain(ctx, node_id, **sizes):
    """A scheduler's claim of a plain instance (``support.specs.
    plain_spec(**sizes)``) on node ``node_id``, made with the database
    whatever this thread's indirection; returns the instance's uuid."""
    import uuid

    from hoststate.objects import indirection
    from hoststate.scheduler import claims
    from hoststate.scheduler import request as request_mod
    from support.specs import plain_spec
    instance_uuid = str(uuid.uuid4())
    with indirection.serving_locally():
        claims.claim(ctx, node_id,
                     request_mod.RequestVector(plain_spec(**sizes)),
                     instance_uuid)
    return instance_uuid
