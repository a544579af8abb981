"""The db driver's columnar liveness read (``are_up_ids``, and the API's
``services_up_columns`` in front of it) on SQLite, PostgreSQL and MariaDB:
the same answers as asking about each service, with no Python object per
service on the way."""
import datetime

import numpy as np
import pytest
import sqlalchemy as sa

from hoststate.db import api as db_api
from hoststate.db import schema
from hoststate.servicegroup import api as sg_api
from support.db_liveness import (  # noqa: F401 (conf: a fixture make_driver uses)
    DOWN_TIME, conf, make_driver, make_service, server_now, set_row)


def _freeze_server_clock(monkeypatch, ctx, at):
    frozen = sa.literal(at, schema.DateTime)
    if ctx.engine.dialect.name != "sqlite":
        frozen = sa.cast(frozen, schema.DateTime)
    monkeypatch.setattr(db_api, "server_utcnow", lambda: frozen)


#: seconds since the last heartbeat (None: never beat, created this long
#: ago), and whether the service is up with DOWN_TIME = 15 s
CASES = [(0, True), (DOWN_TIME, True), (DOWN_TIME + 0.000001, False),
         (-DOWN_TIME, True), (-DOWN_TIME - 1, False), (3600, False),
         ("created 5", True), ("created 60", False)]


def _services(ctx, now):
    services = []
    for number, (elapsed, _) in enumerate(CASES):
        service = make_service(ctx, f"h{number}")
        if isinstance(elapsed, str):
            created = int(elapsed.split()[1])
            set_row(ctx, service.id, last_seen_up=None,
                    created_at=now - datetime.timedelta(seconds=created))
        else:
            set_row(ctx, service.id,
                    last_seen_up=now - datetime.timedelta(seconds=elapsed))
        services.append(service)
    return services


def test_are_up_ids_gives_each_services_answer(ctx, make_driver, monkeypatch):
    now = server_now(ctx).replace(microsecond=500000)
    services = _services(ctx, now)
    _freeze_server_clock(monkeypatch, ctx, now)
    driver = make_driver()
    ids = [s.id for s in services]
    # an unknown id, and one asked twice
    asked = ids + [10**9, ids[0]]

    answers = driver.are_up_ids(asked)

    expected = [up for _, up in CASES] + [False, True]
    assert answers.dtype == bool and answers.tolist() == expected
    assert [driver.is_up(s) for s in services] == expected[:len(CASES)]
    assert driver.are_up(services + [{"id": None}]) == \
        expected[:len(CASES)] + [False]
    assert driver.get_all("compute") == sorted(
        f"h{n}" for n, (_, up) in enumerate(CASES) if up)


def test_are_up_ids_answers_from_memory_only_what_it_read(ctx, make_driver):
    now = server_now(ctx)
    services = _services(ctx, now)
    driver = make_driver()
    ids = np.array([s.id for s in services[:3]])
    first = driver.are_up_ids(ids)
    read_at = driver.last_bulk_read
    set_row(ctx, services[0].id, last_seen_up=now - datetime.timedelta(
        seconds=3600))

    assert driver.are_up_ids(ids[::-1], max_age=60).tolist() == \
        first[::-1].tolist()
    assert driver.last_bulk_read == read_at          # no read
    assert driver.are_up_ids([services[5].id], max_age=60).tolist() == [False]
    assert driver.last_bulk_read > read_at           # not covered: read
    assert driver.are_up_ids(ids, max_age=60)[0] == False  # noqa: E712
    assert driver.are_up_ids([]).tolist() == []


def test_services_up_columns_leaves_forced_down_services_out(
        ctx, conf, make_driver):
    now = server_now(ctx)
    every = _services(ctx, now)
    # up, up but forced down, down
    services = [every[0], every[3], every[5]]
    group = sg_api.API(conf=conf, driver=make_driver())

    answers = group.services_up_columns(
        [s.id for s in services], [False, True, False],
        services=lambda: pytest.fail("the db driver needs no objects"))

    assert answers.tolist() == [True, False, False]
    assert group.services_up([dict(id=s.id, forced_down=f) for s, f in
                              zip(services, (False, True, False))]) == \
        answers.tolist()
