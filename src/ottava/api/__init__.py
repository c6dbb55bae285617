"""Octavia's v2 REST API on Falcon: routes, schemas, paging, faults, the OpenAPI document."""
