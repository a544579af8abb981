"""Request specs for tests that need a plain one: a flavor without extra
specs, an image with no properties, one instance."""
import uuid as uuid_lib

from hoststate.objects import flavor as flavor_obj
from hoststate.objects import request_spec


def plain_spec(vcpus=1, memory_mb=512, root_gb=1):
    """A one-instance request of a flavor of these sizes (project p1)."""
    flavor = flavor_obj.Flavor(id=1, flavorid="m1", name="m1", vcpus=vcpus,
                               memory_mb=memory_mb, root_gb=root_gb,
                               ephemeral_gb=0, swap=0, extra_specs={})
    return request_spec.RequestSpec.from_components(
        str(uuid_lib.uuid4()), flavor, image={"id": str(uuid_lib.uuid4())},
        project_id="p1")
