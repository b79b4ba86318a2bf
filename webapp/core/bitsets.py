"""Filtering on an integer bit-set field (e.g. Chain.flags) the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from django.db.models import F, QuerySet


def flag_filter(qs: QuerySet, field: str, value: str, bits: dict[str, int]) -> QuerySet:
    """Rows whose `field` has the bit named `value` set; "any": some bit set; "none": no bit set.

    `field` may cross a relation ("chains__flags"): a row is then kept once, whichever related row matched. The
    `field > 0` term lets the database use a partial index of the flagged rows.
    """
    if value == "none":
        return qs.exclude(**{f"{field}__gt": 0})
    mask = sum(bits.values()) if value == "any" else bits[value]
    if "__" in field:  # through a relation: a subquery, so a row matched by several related rows appears once
        qs, outer = qs.model.objects.all(), qs
    matched = qs.alias(_bits=F(field).bitand(mask)).filter(**{f"{field}__gt": 0, "_bits__gt": 0})
    return outer.filter(pk__in=matched.values("pk")) if "__" in field else matched


def lacking(qs: QuerySet, field: str, mask: int) -> QuerySet:
    """Rows whose `field` has none of the bits in `mask` set."""
    return qs.alias(_out=F(field).bitand(mask)).filter(_out=0) if mask else qs
