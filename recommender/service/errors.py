"""What the service answers when input is wrong, and the checks that need the taxonomy.

The shape of input is checked at the edge (``recommender.inputs``, pydantic); what remains
here is what depends on data: is this id well formed when it comes from a URL path, is this
group, topic or region one the taxonomy knows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from corpus.schema import ID_RE
from corpus.taxonomy import Taxonomy

__all__ = ["Checks", "ServiceError"]


class ServiceError(Exception):
    """Bad input or a missing resource: ``status`` is the HTTP status, ``field`` the culprit."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class Checks:
    """Validation against the taxonomy; each raises :class:`ServiceError` (422) naming the field."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy

    def id(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not ID_RE.match(value):
            raise ServiceError(422, f"{field} must be 1-128 characters of letters, digits and _-.:", field)
        return value

    def _known(self, values: Sequence[str] | None, known: Collection[str], kind: str, field: str) -> list[str]:
        values = list(values or [])
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ServiceError(422, f"unknown {kind} id(s): {', '.join(unknown)} (see GET /v1/{kind}s)", field)
        return values

    def groups(self, groups: Sequence[str] | None, field: str = "groups") -> list[str]:
        return self._known(groups, self.taxonomy.groups, "group", field)

    def topics(self, topics: Sequence[str] | None, field: str = "topics") -> list[str]:
        return self._known(topics, self.taxonomy.topics, "topic", field)

    def region(self, region: str | None, field: str = "region") -> str | None:
        """A region must be one the taxonomy lists (corpus/taxonomy/regions.yaml), at most a
        county: a street address is personal data the product does not collect. Returns its
        official name (巴彦淖尔 and 150800 are 巴彦淖尔市)."""
        if region is None:
            return None
        known = self.taxonomy.region(region)
        if known is None:
            raise ServiceError(422, f"'{region[:64]}' is not a region Pufa knows: name a province, city, league "
                                    "or county (e.g. 巴彦淖尔市, 临河区), not an address", field)
        return known.name
