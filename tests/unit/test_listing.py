"""List-request parsing in `ottava.api.listing` on in-memory falcon requests (reference
§1.5-§1.7): the page-size cap from `pagination_max_limit`, `limit` clamping, filters and
their 400s, tag filters, project scoping, sort keys, field selection, and next/previous
links."""

from __future__ import annotations

from types import SimpleNamespace as NS
from urllib.parse import parse_qs, urlsplit

import pytest
from falcon import testing

from ottava import config
from ottava.api import fields as f
from ottava.api import listing
from ottava.db import models
from ottava.domain.context import Caller
from ottava.domain.errors import Forbidden, Invalid
from ottava.domain.query import ListQuery, Page, SortKey
from ottava.settings import ApiSettings

PATH = "/v2/lbaas/loadbalancers"
USER = Caller(project_id="p1", roles=("member",))
ADMIN = Caller(project_id="admin-project", is_admin=True)


def conf(**api: object) -> ApiSettings:
    """The API's settings as `ottava.config` reads them from [api_settings] `api`."""
    c = config.new_conf()
    c([], project="ottava-test", default_config_files=[])
    for name, value in api.items():
        c.set_override(name, value, group="api_settings")
    return config.read(c).api


def parse(query_string: str = "", caller: Caller = USER, resource: f.Resource = f.LOADBALANCER,
          model: type = models.LoadBalancer, **api: object) -> tuple[ListQuery, list | None]:
    req = testing.create_req(path=PATH, query_string=query_string)
    return listing.parse(req, resource, model, conf(**api), caller)


def bad(query_string: str, text: str | None = None, **kw: object) -> str:
    with pytest.raises(Invalid) as exc:
        parse(query_string, **kw)  # type: ignore[arg-type]
    assert exc.value.code == 400
    if text is not None:
        assert exc.value.message == text
    return exc.value.message


# --- max_limit ------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "expected"), [
    ("1000", 1000), ("5", 5), ("0", 0), ("infinite", None), ("INFINITE", None),
    ("Infinite", None), ("-1", None), ("-100", None),
])
def test_max_limit(setting: str, expected: int | None) -> None:
    assert conf(pagination_max_limit=setting).pagination_max_limit == expected


def test_max_limit_default_is_1000() -> None:
    assert conf().pagination_max_limit == 1000


# --- limit, marker, page_reverse ------------------------------------------------------------

def test_default_page_size_is_the_max() -> None:
    assert parse()[0].limit == 1000
    assert parse(pagination_max_limit="infinite")[0].limit is None


@pytest.mark.parametrize(("limit", "expected"), [("5", 5), ("1000", 1000), ("1001", 1000),
                                                 ("999999", 1000)])
def test_limit_is_clamped_to_the_max(limit: str, expected: int) -> None:
    assert parse(f"limit={limit}")[0].limit == expected


def test_any_limit_without_a_max() -> None:
    assert parse("limit=5000", pagination_max_limit="infinite")[0].limit == 5000
    assert parse("limit=5000", pagination_max_limit="-1")[0].limit == 5000


@pytest.mark.parametrize("limit", ["0", "-1", "-50", "infinite"])
def test_limit_zero_negative_or_infinite_means_no_limit(limit: str) -> None:
    # Reference §1.5: "`limit <= 0` or "infinite" means "no limit"" (Octavia's _parse_limit
    # turns these into None before comparing with the max).
    assert parse(f"limit={limit}", pagination_max_limit="infinite")[0].limit is None
    assert parse(f"limit={limit}")[0].limit is None


@pytest.mark.parametrize("limit", ["abc", "1.5", "ten"])
def test_non_integer_limit(limit: str) -> None:
    bad(f"limit={limit}")


def test_marker_and_page_reverse() -> None:
    query, _ = parse("marker=abc&page_reverse=True")
    assert query.marker == "abc" and query.page_reverse is True
    assert parse("page_reverse=False")[0].page_reverse is False
    assert parse()[0].page_reverse is False and parse()[0].marker is None


# --- filters --------------------------------------------------------------------------------

def test_filters_are_model_attributes() -> None:
    query, _ = parse("name=web&operating_status=ONLINE")
    assert query.filters == {"name": "web", "operating_status": "ONLINE"}


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("True", True), ("1", True),
                                            ("false", False), ("FALSE", False), ("0", False)])
def test_boolean_filters(raw: str, value: bool) -> None:
    assert parse(f"admin_state_up={raw}")[0].filters == {"admin_state_up": value}


def test_bad_boolean_filter() -> None:
    bad("admin_state_up=maybe")


def test_integer_filters() -> None:
    query, _ = parse("protocol_port=80", resource=f.LISTENER, model=models.Listener)
    assert query.filters == {"protocol_port": 80}
    with pytest.raises(Invalid):
        parse("protocol_port=eighty", resource=f.LISTENER, model=models.Listener)


@pytest.mark.parametrize(("resource", "model"), [(f.LISTENER, models.Listener),
                                                 (f.POOL, models.Pool)])
def test_loadbalancer_id_filter_maps_to_the_foreign_key(resource: f.Resource,
                                                        model: type) -> None:
    # Reference §1.7: "`loadbalancer_id` maps to the LB foreign key".
    query, _ = parse("loadbalancer_id=lb1", resource=resource, model=model)
    assert query.filters == {"load_balancer_id": "lb1"}


def test_health_monitors_filter_by_pool_id() -> None:
    # Octavia filters on every attribute of the data model; a monitor has pool_id.
    query, _ = parse("pool_id=p1", resource=f.HEALTHMONITOR, model=models.HealthMonitor)
    assert query.filters == {"pool_id": "p1"}


def test_l7_policies_filter_by_listener_id() -> None:
    query, _ = parse("listener_id=l1", resource=f.L7POLICY, model=models.L7Policy)
    assert query.filters == {"listener_id": "l1"}


@pytest.mark.parametrize("qs", ["bogus=1", "name=a&name=b", "listeners=x", "tenant_id=p1"])
def test_unknown_or_duplicate_filters(qs: str) -> None:
    bad(qs, "One or more arguments are either duplicate or invalid")


def test_tag_filters_split_commas_and_repeats() -> None:
    query, _ = parse("tags=a,b&tags=c&tags-any=d&not-tags=e,f&not-tags-any=g")
    assert query.tags_all == ["a", "b", "c"]
    assert query.tags_any == ["d"]
    assert query.not_tags_all == ["e", "f"]
    assert query.not_tags_any == ["g"]
    assert query.filters == {}


# --- project scope --------------------------------------------------------------------------

def test_users_are_scoped_to_their_project() -> None:
    query, _ = parse()
    assert query.project_id == "p1"
    query, _ = parse("project_id=p1")
    assert query.project_id == "p1"


def test_users_may_not_name_another_project() -> None:
    with pytest.raises(Forbidden) as exc:
        parse("project_id=other")
    assert exc.value.code == 403
    assert exc.value.message == "Policy does not allow this request to be performed."


def test_admins_see_every_project_or_the_one_they_name() -> None:
    query, _ = parse(caller=ADMIN)
    assert query.project_id is None
    query, _ = parse("project_id=other", caller=ADMIN)
    assert query.filters["project_id"] == "other"


def test_global_observers_see_every_project() -> None:
    observer = Caller(project_id="p1", roles=("load-balancer_global_observer",))
    assert parse(caller=observer)[0].project_id is None


def test_unscoped_lists_ignore_the_caller() -> None:
    req = testing.create_req(path=PATH)
    query, _ = listing.parse(req, f.LOADBALANCER, models.LoadBalancer, conf(), USER,
                             scoped=False)
    assert query.project_id is None


# --- sorting --------------------------------------------------------------------------------

def test_sort_parameter() -> None:
    query, _ = parse("sort=name:desc,created_at")
    assert query.sort == [SortKey("name", True), SortKey("created_at", False)]


def test_sort_key_and_dir_are_padded_with_asc() -> None:
    query, _ = parse("sort_key=name,operating_status&sort_dir=desc")
    assert query.sort == [SortKey("name", True), SortKey("operating_status", False)]
    query, _ = parse("sort_key=name")
    assert query.sort == [SortKey("name", False)]


@pytest.mark.parametrize("qs", ["sort=bogus", "sort=listeners", "sort_key=bogus",
                                "sort=name:sideways", "sort_key=name&sort_dir=up"])
def test_bad_sort(qs: str) -> None:
    text = bad(qs)
    assert text.startswith(("Invalid sort key", "Invalid sort direction"))


# --- field selection ------------------------------------------------------------------------

def test_fields_selection() -> None:
    _, fields = parse("fields=id&fields=name")
    assert fields == ["id", "name"]
    assert parse()[1] is None


def test_fields_selection_drops_names_that_are_not_returned() -> None:
    _, fields = parse("fields=id&fields=bogus")
    assert fields == ["id"]


# --- links ----------------------------------------------------------------------------------

def items(*ids: str) -> list[NS]:
    return [NS(id=i) for i in ids]


def links(query_string: str, query: ListQuery, page: Page, **api: object) -> dict[str, dict]:
    req = testing.create_req(path=PATH, query_string=query_string)
    out = listing.links(req, conf(**api), query, page)
    assert len({link["rel"] for link in out}) == len(out)
    return {link["rel"]: link for link in out}


def params(href: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}


def test_next_link_on_a_full_page() -> None:
    got = links("limit=2", ListQuery(limit=2), Page(items("a", "b"), full=True))
    assert set(got) == {"next"}
    href = got["next"]["href"]
    assert urlsplit(href).path == PATH
    assert params(href) == {"marker": "b", "limit": "2"}


def test_no_links_on_a_short_page_without_marker() -> None:
    assert links("limit=5", ListQuery(limit=5), Page(items("a"), full=False)) == {}
    assert links("", ListQuery(limit=5), Page([], full=False)) == {}


def test_previous_link_only_when_the_request_had_a_marker() -> None:
    got = links("limit=2&marker=x", ListQuery(limit=2, marker="x"),
                Page(items("c", "d"), full=True))
    assert set(got) == {"next", "previous"}
    assert params(got["previous"]["href"]) == {"marker": "c", "limit": "2",
                                               "page_reverse": "True"}
    got = links("limit=2&marker=x", ListQuery(limit=2, marker="x"),
                Page(items("e"), full=False))
    assert set(got) == {"previous"}


def test_links_carry_sort_parameters() -> None:
    got = links("limit=1&sort=name:desc", ListQuery(limit=1), Page(items("a"), full=True))
    assert params(got["next"]["href"])["sort"] == "name:desc"
    got = links("limit=1&sort_key=name&sort_dir=desc", ListQuery(limit=1),
                Page(items("a"), full=True))
    assert params(got["next"]["href"])["sort_key"] == "name"


def test_links_use_api_base_uri() -> None:
    got = links("limit=1", ListQuery(limit=1), Page(items("a"), full=True),
                api_base_uri="https://lb.example.com:9876/")
    assert got["next"]["href"].startswith(f"https://lb.example.com:9876{PATH}?")


def test_next_link_when_no_limit_applies_and_the_list_is_not_empty() -> None:
    # Reference §1.5: a next link is emitted "when the returned page is full (or when no
    # limit applies and the list is non-empty)".
    got = links("", ListQuery(limit=None), Page(items("a", "b"), full=False),
                pagination_max_limit="infinite")
    assert "next" in got
    assert params(got["next"]["href"])["marker"] == "b"
