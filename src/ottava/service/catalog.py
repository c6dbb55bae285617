"""Operator catalog objects: flavors, flavor profiles, availability zones and their profiles.

They change synchronously (no provisioning status); the provider validates profile data.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.errors import Conflict, Invalid, NotFound
from ottava.domain.query import ListQuery, Page
from ottava.service.base import Service, apply
from ottava.service.providers import validate_profile_data

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class CatalogService(Service):
    """Create, update, delete and read one kind of catalog object."""

    model: Any
    title: str
    key = "id"
    # (column holding a profile's provider, column holding its JSON data, capability kind)
    profile_data: tuple[str, str, str] | None = None

    def get(self, ident: str) -> Any:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.reader() as s:
            return repo.get(s, self.model, ident, self.title, key=self.key)

    def list(self, query: ListQuery) -> Page:
        with self.db.reader() as s:
            return repo.list_page(s, self.model, query)

    def create(self, values: dict[str, Any]) -> Any:
        self.check(values)
        with self.db.transaction() as s:
            self.before_write(s, values, None)
            obj = self.model(**values)
            s.add(obj)
            s.flush()
            return obj

    def update(self, ident: str, values: dict[str, Any]) -> Any:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.transaction() as s:
            obj = repo.get(s, self.model, ident, self.title, key=self.key)
            merged = {c: getattr(obj, c) for c in values}
            merged.update(values)
            self.check({**self.current(obj), **values})
            self.before_write(s, values, obj)
            apply(obj, values)
            return obj

    def delete(self, ident: str) -> None:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.transaction() as s:
            obj = repo.get(s, self.model, ident, self.title, key=self.key)
            if self.in_use(s, obj):
                raise Conflict(f"{self.title} {ident} is in use and cannot be modified.")
            s.delete(obj)

    def current(self, obj: Any) -> dict[str, Any]:
        return {}

    def check(self, values: dict[str, Any]) -> None:
        if self.profile_data is None:
            return
        provider_col, data_col, kind = self.profile_data
        if provider_col in values and data_col in values:
            provider = values[provider_col]
            if provider not in self.conf.api_settings.enabled_provider_drivers:
                raise Invalid(f"Provider '{provider}' is not enabled.")
            try:
                data = json.loads(values[data_col])
            except (TypeError, ValueError):
                raise Invalid(f"Validation failure: {data_col} is not valid JSON.") from None
            if not isinstance(data, dict):
                raise Invalid(f"Validation failure: {data_col} must be a JSON object.")
            validate_profile_data(kind, provider, data)

    def before_write(self, session: Any, values: dict[str, Any], obj: Any) -> None:
        return None

    def in_use(self, session: Any, obj: Any) -> bool:
        return False


class FlavorProfileService(CatalogService):
    model, title = m.FlavorProfile, "Flavor profile"
    profile_data = ("provider_name", "flavor_data", "flavor")

    def current(self, obj: Any) -> dict[str, Any]:
        return {"provider_name": obj.provider_name, "flavor_data": obj.flavor_data}

    def before_write(self, session: Any, values: dict[str, Any], obj: Any) -> None:
        if obj is not None and {"provider_name", "flavor_data"} & set(values) and \
                self.in_use(session, obj):
            raise Conflict(f"Flavor profile {obj.id} is in use and cannot be modified.")

    def in_use(self, session: Any, obj: Any) -> bool:
        return session.scalar(select(m.Flavor.id).where(
            m.Flavor.flavor_profile_id == obj.id).limit(1)) is not None


class FlavorService(CatalogService):
    model, title = m.Flavor, "Flavor"

    def before_write(self, session: Any, values: dict[str, Any], obj: Any) -> None:
        if "flavor_profile_id" in values and session.get(
                m.FlavorProfile, values["flavor_profile_id"]) is None:
            raise Invalid(f"Validation failure: Invalid flavor profile "
                          f"{values['flavor_profile_id']}.")
        if "name" in values and (obj is None or obj.name != values["name"]):
            clash = session.scalar(select(m.Flavor.id).where(m.Flavor.name == values["name"]))
            if clash is not None:
                raise Conflict(f"A flavor of {values['name']} already exists.")

    def in_use(self, session: Any, obj: Any) -> bool:
        return session.scalar(select(m.LoadBalancer.id).where(
            m.LoadBalancer.flavor_id == obj.id).limit(1)) is not None


class AvailabilityZoneProfileService(CatalogService):
    model, title = m.AvailabilityZoneProfile, "Availability zone profile"
    profile_data = ("provider_name", "availability_zone_data", "availability_zone")

    def current(self, obj: Any) -> dict[str, Any]:
        return {"provider_name": obj.provider_name,
                "availability_zone_data": obj.availability_zone_data}

    def before_write(self, session: Any, values: dict[str, Any], obj: Any) -> None:
        if obj is not None and {"provider_name", "availability_zone_data"} & set(values) and \
                self.in_use(session, obj):
            raise Conflict(f"Availability zone profile {obj.id} is in use and cannot be "
                           "modified.")

    def in_use(self, session: Any, obj: Any) -> bool:
        return session.scalar(select(m.AvailabilityZone.name).where(
            m.AvailabilityZone.availability_zone_profile_id == obj.id).limit(1)) is not None


class AvailabilityZoneService(CatalogService):
    model, title, key = m.AvailabilityZone, "Availability Zone", "name"

    def before_write(self, session: Any, values: dict[str, Any], obj: Any) -> None:
        if "availability_zone_profile_id" in values and session.get(
                m.AvailabilityZoneProfile, values["availability_zone_profile_id"]) is None:
            raise Invalid("Validation failure: Invalid availability zone profile "
                          f"{values['availability_zone_profile_id']}.")
        if obj is None and session.get(m.AvailabilityZone, values["name"]) is not None:
            raise Conflict(f"An availability zone of {values['name']} already exists.")

    def in_use(self, session: Any, obj: Any) -> bool:
        return session.scalar(select(m.LoadBalancer.id).where(
            m.LoadBalancer.availability_zone == obj.name).limit(1)) is not None
