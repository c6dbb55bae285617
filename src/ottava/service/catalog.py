"""Operator catalog objects: flavors, flavor profiles, availability zones and their profiles.

They change synchronously (no provisioning status). Each kind is described by a few class
attributes: what references it (so it cannot go while in use), what it must reference, which
name must be unique, and for profiles which provider data the provider must accept.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.errors import Conflict, Invalid, NotFound
from ottava.domain.query import ListQuery, Page
from ottava.service.base import Operations, apply, retry_deadlocks
from ottava.service.providers import validate_profile_data

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class CatalogService(Operations):
    """Create, update, delete and read one kind of catalog object."""

    model: Any
    title: str
    key = "id"
    # (model, column) of another table referencing this object: no delete while in use.
    used_by: tuple[Any, str]
    # (field, model) this object must reference, e.g. a flavor's profile.
    references: tuple[str, Any] | None = None
    # The field whose value must be unique, with the noun used in the 409.
    unique_name: tuple[str, str] | None = None
    # Profiles: (provider column, JSON data column, capability kind); frozen while in use.
    profile_data: tuple[str, str, str] | None = None

    def get(self, ident: str) -> Any:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.reader() as s:
            return repo.get(s, self.model, ident, self.title, key=self.key)

    def list(self, query: ListQuery) -> Page:
        with self.db.reader() as s:
            return repo.list_page(s, self.model, query)

    @retry_deadlocks
    def create(self, values: dict[str, Any]) -> Any:
        self.check_profile_data(values)
        with self.db.transaction() as s:
            self.check_references(s, values, None)
            obj = self.model(**values)
            s.add(obj)
            s.flush()
            return obj

    @retry_deadlocks
    def update(self, ident: str, values: dict[str, Any]) -> Any:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.transaction() as s:
            obj = repo.get(s, self.model, ident, self.title, key=self.key)
            if self.profile_data:
                frozen = set(self.profile_data[:2]) & set(values)
                if frozen and self.in_use(s, obj):
                    raise Conflict(f"{self.title} {ident} is in use and cannot be modified.")
                merged = {name: getattr(obj, name) for name in self.profile_data[:2]}
                self.check_profile_data({**merged, **values})
            self.check_references(s, values, obj)
            apply(obj, values)
            return obj

    @retry_deadlocks
    def delete(self, ident: str) -> None:
        if ident == NIL_UUID:
            raise NotFound(self.title, ident)
        with self.db.transaction() as s:
            # Locked: of concurrent deletes one removes it, the others then find none (404).
            obj = repo.get(s, self.model, ident, self.title, key=self.key, lock=True)
            if self.in_use(s, obj):
                raise Conflict(f"{self.title} {ident} is in use and cannot be modified.")
            s.delete(obj)

    def in_use(self, session: Session, obj: Any) -> bool:
        used = getattr(*self.used_by)
        return session.scalar(select(used).where(used == getattr(obj, self.key)).limit(1)) \
            is not None

    def check_references(self, session: Session, values: dict[str, Any], obj: Any) -> None:
        if self.references is not None:
            name, target = self.references
            if name in values and session.get(target, values[name]) is None:
                raise Invalid(f"Validation failure: Invalid {name.replace('_id', '')} "
                              f"{values[name]}.")
        if self.unique_name is not None:
            name, noun = self.unique_name
            if name in values and (obj is None or getattr(obj, name) != values[name]):
                column = getattr(self.model, name)
                if session.scalar(select(column).where(column == values[name])) is not None:
                    raise Conflict(f"A {noun} of {values[name]} already exists.")

    def check_profile_data(self, values: dict[str, Any]) -> None:
        if self.profile_data is None:
            return
        provider_col, data_col, kind = self.profile_data
        provider = values[provider_col]
        if provider not in self.settings.providers.enabled:
            raise Invalid(f"Provider '{provider}' is not enabled.")
        try:
            data = json.loads(values[data_col])
        except (TypeError, ValueError):
            raise Invalid(f"Validation failure: {data_col} is not valid JSON.") from None
        if not isinstance(data, dict):
            raise Invalid(f"Validation failure: {data_col} must be a JSON object.")
        validate_profile_data(kind, provider, data)


class FlavorProfileService(CatalogService):
    model, title = m.FlavorProfile, "Flavor profile"
    used_by = (m.Flavor, "flavor_profile_id")
    profile_data = ("provider_name", "flavor_data", "flavor")


class FlavorService(CatalogService):
    model, title = m.Flavor, "Flavor"
    used_by = (m.LoadBalancer, "flavor_id")
    references = ("flavor_profile_id", m.FlavorProfile)
    unique_name = ("name", "flavor")


class AvailabilityZoneProfileService(CatalogService):
    model, title = m.AvailabilityZoneProfile, "Availability zone profile"
    used_by = (m.AvailabilityZone, "availability_zone_profile_id")
    profile_data = ("provider_name", "availability_zone_data", "availability_zone")


class AvailabilityZoneService(CatalogService):
    model, title, key = m.AvailabilityZone, "Availability Zone", "name"
    used_by = (m.LoadBalancer, "availability_zone")
    references = ("availability_zone_profile_id", m.AvailabilityZoneProfile)
    unique_name = ("name", "availability zone")

    def create(self, values: dict[str, Any]) -> Any:
        # A zone's name is its path (/availabilityzones/<name>): refused when no path could
        # name it, as it could then never be read, changed or deleted.
        name = values.get("name") or ""
        if not name or "/" in name or name == NIL_UUID:
            raise Invalid("Validation failure: an availability zone's name may not be empty, "
                          "hold '/' or be the nil UUID.")
        return super().create(values)
