"""What the launch forms share: sections with legends, fields that apply to one choice only, a sensible default.

Why here: teacher, validation, snapshot and training forms are long, and a flat list put the dataset among a dozen
sampling knobs and showed every backend's fields to every backend. The rendering is `templates/_form.html`; the
hiding of fields that do not apply is `static/js/launch.js` (without JavaScript every field shows, and each says
in its help which choice it is for).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.db.models import Model, QuerySet


class SectionedForm(forms.Form):
    """`sections`: (legend, field names) in order; fields not named go last under "Other".
    `shown_when`: field name → (controlling field, the values it applies to)."""

    sections: ClassVar[list[tuple[str, list[str]]]] = []
    shown_when: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, (control, values) in self.shown_when.items():
            if name in self.fields:
                self.fields[name].widget.attrs["data-shown-when"] = f"{control}={','.join(values)}"

    def fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        named = {name for _, names in self.sections for name in names}
        sets = [(legend, [self[n] for n in names if n in self.fields]) for legend, names in self.sections]
        rest = [self[n] for n in self.fields if n not in named]
        return [(legend, fields) for legend, fields in [*sets, ("Other", rest)] if fields]

    def preselect(self, name: str, queryset: QuerySet[Any], order: str = "-created_at") -> None:
        """An unbound form without a choice for `name` starts on the most recent row (the only one, when there is
        one): the common case needs no click."""
        if self.is_bound or self.initial.get(name):
            return
        latest: Model | None = queryset.order_by(order).first()
        if latest is not None:
            self.initial[name] = latest.pk
