"""Fixtures of the unit tests: a test PKI (root, intermediate) and a server certificate of it,
made once per module."""

from __future__ import annotations

import pytest

from tests import certs


@pytest.fixture(scope="module")
def pki() -> certs.Pki:
    return certs.Pki()


@pytest.fixture(scope="module")
def leaf(pki: certs.Pki) -> certs.Leaf:
    return pki.leaf()
