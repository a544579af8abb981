"""Fixtures of the scheduler's functional tests."""
import pytest
from oslo_config import cfg

from hoststate import conf as hs_conf


@pytest.fixture
def conf():
    """hoststate's options at their defaults, on a ConfigOpts of the
    test's own (a module that needs other settings defines its own)."""
    options = cfg.ConfigOpts()
    hs_conf.load(args=[], config_files=[], conf=options)
    return options
