"""The quota API and the admin amphora API."""

from __future__ import annotations

from tests.harness import Client


def test_quota_show_set_list_reset(api: Client) -> None:
    shown = api.get("/v2/lbaas/quotas/p1").json()["quota"]
    assert shown["loadbalancer"] == -1 and shown["load_balancer"] == -1
    assert api.get("/v2/lbaas/quotas").json() == {"quotas": [], "quotas_links": []}
    resp = api.put("/v2/lbaas/quotas/p1", {"quota": {"loadbalancer": 5, "health_monitor": 2}})
    assert resp.status_code == 202, resp.text
    quota = resp.json()["quota"]
    assert quota["loadbalancer"] == quota["load_balancer"] == 5
    assert quota["healthmonitor"] == quota["health_monitor"] == 2
    assert quota["listener"] == -1
    assert quota["project_id"] == quota["tenant_id"] == "p1"  # older clients read tenant_id
    [listed] = api.get("/v2/lbaas/quotas").json()["quotas"]
    assert listed["project_id"] == "p1" and listed["listener"] is None
    for path in ("/v2/lbaas/quotas/p1/default", "/v2/lbaas/quotas/defaults"):
        assert api.get(path).json()["quota"]["loadbalancer"] == -1
    assert api.put("/v2/lbaas/quotas/p1", {"quota": {"pool": -2}}).status_code == 400
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 202
    assert api.delete("/v2/lbaas/quotas/p1").status_code == 404
    assert api.get("/v2/lbaas/quotas/p1").json()["quota"]["loadbalancer"] == -1


def test_amphora_api(api: Client, lb: dict) -> None:
    [amp] = api.get("/v2/octavia/amphorae").json()["amphorae"]
    assert amp["loadbalancer_id"] == lb["id"] and amp["status"] == "ALLOCATED"
    assert amp["role"] == "STANDALONE" and amp["ha_ip"] == lb["vip_address"]
    assert api.get(f"/v2/octavia/amphorae/{amp['id']}").json()["amphora"]["id"] == amp["id"]
    assert api.get(f"/v2/octavia/amphorae/{amp['id']}/stats").json() == {"amphora_stats": []}
    assert api.put(f"/v2/octavia/amphorae/{amp['id']}/config").status_code == 202
    # Only an amphora in ERROR may be deleted.
    assert api.delete(f"/v2/octavia/amphorae/{amp['id']}").status_code == 409

    assert api.put(f"/v2/octavia/amphorae/{amp['id']}/failover").status_code == 202
    api.wait(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    [new] = api.get("/v2/octavia/amphorae").json()["amphorae"]
    assert new["id"] != amp["id"] and new["role"] == "STANDALONE"
    assert api.get(f"/v2/octavia/amphorae/{amp['id']}").status_code == 404

    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    api.wait(f"/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    [newer] = api.get("/v2/octavia/amphorae").json()["amphorae"]
    assert newer["id"] not in (amp["id"], new["id"])
