"""What the conductor's tests and benchmarks share."""
from hoststate import context as hs_context


def agent_context(host="compute-1"):
    """What an agent without database access calls with."""
    return hs_context.RequestContext(engine=None, service_host=host,
                                     is_admin=True, roles=["admin"])
