"""Soft (anti-)affinity weighers: a server group's preference that may be
broken when it cannot be met.

Only a request whose group has the weigher's policy is weighed; for every
other request each host weighs 0, so the weigher changes nothing. The raw
weight is the number of members of the request's group on the host (the
instances placed earlier in this request included): positive for
soft-affinity, so hosts with members win; negative for soft-anti-affinity,
so hosts with the fewest members win. Instances of other groups do not
count.
"""
import numpy as np

from hoststate.scheduler.weights import BaseHostWeigher


def members_by_host_code(table, members_per_host):
    """Members per ``host`` column code (0 for hosts without members), from
    {host name: count}; hosts the table does not know are skipped."""
    column = table.interned["host"]
    counts = np.zeros(len(column))
    for host, count in members_per_host.items():
        code = column.find(host)
        if code is not None:
            counts[code] = count
    return counts


class _SoftGroupWeigher(BaseHostWeigher):
    #: The group policy this weigher serves.
    policy = None
    #: +1 to gather members, -1 to keep them apart.
    sign = 1.0

    def applies(self, request):
        return request.group_policy == self.policy

    def raw_weights(self, table, rows, request):
        if request.group_policy != self.policy:
            return np.zeros(len(rows))
        counts = members_by_host_code(table, request.members_per_host())
        return self.sign * counts[table.codes("host")[rows]]


class ServerGroupSoftAffinityWeigher(_SoftGroupWeigher):
    """soft-affinity: hosts with more members of the group weigh more."""

    policy = "soft-affinity"
    multiplier_option = "soft_affinity_weight_multiplier"


class ServerGroupSoftAntiAffinityWeigher(_SoftGroupWeigher):
    """soft-anti-affinity: hosts with more members of the group weigh
    less."""

    policy = "soft-anti-affinity"
    sign = -1.0
    multiplier_option = "soft_anti_affinity_weight_multiplier"
