"""Tests against the real OpenStack services of ../shared/mini-openstack (tools/cloud-tests.sh)."""
