"""The version document at `/` and the `/v2` roots (`/healthcheck` is `ottava.healthcheck`)."""

from __future__ import annotations

from typing import Any

import falcon

# (minor version, date it appeared in Octavia); the last one is CURRENT.
VERSIONS = [
    ("2.0", "2016-12-11"), ("2.1", "2018-04-20"), ("2.2", "2018-07-31"), ("2.3", "2018-12-18"),
    ("2.4", "2018-12-19"), ("2.5", "2019-01-21"), ("2.6", "2019-01-25"), ("2.7", "2018-01-25"),
    ("2.8", "2019-02-12"), ("2.9", "2019-03-04"), ("2.10", "2019-03-05"),
    ("2.11", "2019-06-24"), ("2.12", "2019-09-11"), ("2.13", "2019-09-13"),
    ("2.14", "2019-11-10"), ("2.15", "2020-03-10"), ("2.16", "2020-03-15"),
    ("2.17", "2020-04-29"), ("2.18", "2020-04-29"), ("2.19", "2020-05-12"),
    ("2.20", "2020-08-02"), ("2.21", "2020-09-03"), ("2.22", "2020-09-04"),
    ("2.23", "2020-09-07"), ("2.24", "2020-10-15"), ("2.25", "2021-10-02"),
    ("2.26", "2022-08-29"), ("2.27", "2023-05-05"), ("2.28", "2023-11-08"),
    ("2.29", "2024-10-15"), ("2.30", "2025-02-26"),
]


def version_document(base_url: str) -> dict[str, Any]:
    href = base_url.rstrip("/") + "/v2"
    last = len(VERSIONS) - 1
    return {"versions": [
        {
            "id": f"v{number}",
            "status": "CURRENT" if index == last else "SUPPORTED",
            "updated": f"{date}T00:00:00Z",
            "links": [{"href": href, "rel": "self"}],
        }
        for index, (number, date) in enumerate(VERSIONS)
    ]}


class Root:
    def __init__(self, base_uri: str | None) -> None:
        self.base_uri = base_uri

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = version_document(self.base_uri or req.prefix)


class VersionRoot:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = "v2"
