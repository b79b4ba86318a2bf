"""What deleting some rows takes with it, found as Django's collector finds it, but counted and deleted in SQL.

Django's collector loads every row it will delete into Python (millions of chains for one dataset: minutes and
gigabytes), because it supports signals and per-object deletion. Nothing here listens to deletions, so the same
relations can be followed as querysets instead: every model reached through CASCADE gets one queryset of the rows
it loses (the union over every path that reaches it); SET_NULL relations are cleared on the rows that stay;
PROTECT and RESTRICT relations refuse when a row that stays points at a row that goes. Counting is then one
`count(*)` per table, and deleting one `DELETE … WHERE … IN (subquery)` per table, the rows that point at others
first, inside the caller's transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from functools import reduce
from operator import or_
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.deletion import get_candidate_relations_to_delete

from webapp.core.paging import Tally, count_or_estimate, planner_rows
from webapp.core.work_mem import room_to_hash

REFUSING = (models.PROTECT, models.RESTRICT)
LITERAL_IDS = 100  # roots up to this many are written into the query a preview estimates, as literal ids
ALL_ROWS = 2**62  # a LIMIT that limits nothing: it keeps a subquery planned on its own


def _own_conditions(manager: Any, qs: QuerySet) -> QuerySet:
    """`qs` as conditions on its own table, to be OR'd with others; as `pk IN (its rows)` where it cannot be (a
    sliced or DISTINCT queryset, another database)."""
    if qs.query.is_sliced or qs.query.distinct or qs.db != manager.db:
        return manager.filter(pk__in=qs.values("pk"))
    return manager.all() & qs.order_by()


class Cascade:
    """The rows deleting every row of `roots` removes, and what that deletion clears or is refused by."""

    def __init__(self, *roots: QuerySet) -> None:
        self.roots: dict[type[models.Model], list[QuerySet]] = defaultdict(list)
        for qs in roots:
            self.roots[qs.model].append(qs)
        self.using = roots[0].db
        self.parents: dict[type[models.Model], list[tuple[type[models.Model], str]]] = defaultdict(list)
        self.cleared: list[tuple[type[models.Model], str, type[models.Model]]] = []  # SET_NULL
        self.refusing: list[tuple[type[models.Model], str, type[models.Model]]] = []  # PROTECT, RESTRICT
        self.order: list[type[models.Model]] = []  # the rows that point at others first
        self._rows: dict[type[models.Model], QuerySet] = {}
        self._probes: dict[type[models.Model], QuerySet] = {}
        self._estimables: dict[type[models.Model], QuerySet] = {}
        self._guesses: dict[type[models.Model], tuple[QuerySet, int | None]] = {}  # and its estimate, once asked
        self._followed: dict[type[models.Model], set[Any]] = {}  # ids of a model that cascades to itself (`rows`)
        self._root_ids: dict[type[models.Model], list[Any] | None] = {}
        self._building: set[type[models.Model]] = set()
        seen: set[type[models.Model]] = set()
        for model in list(self.roots):
            self._walk(model, seen)

    def _walk(self, model: type[models.Model], seen: set[type[models.Model]]) -> None:
        if model in seen:
            return
        seen.add(model)
        for rel in get_candidate_relations_to_delete(model._meta):
            child, name, how = rel.related_model, rel.field.name, rel.on_delete
            if how is models.CASCADE:
                self.parents[child].append((model, name))
                if child is not model:
                    self._walk(child, seen)
            elif how is models.SET_NULL:
                self.cleared.append((child, name, model))
            elif how in REFUSING:
                self.refusing.append((child, name, model))
            elif how is not models.DO_NOTHING:  # SET_DEFAULT, SET(…): not used here; the collector would be needed
                raise NotImplementedError(f"{child._meta.label}.{name}: on_delete={how.__name__}")
        self.order.append(model)

    @property
    def models(self) -> list[type[models.Model]]:
        return self.order

    def rows(self, model: type[models.Model]) -> QuerySet:
        """The rows of `model` the deletion removes: its roots, and every row a removed row's CASCADE reaches."""
        if model in self._rows:
            return self._rows[model]
        if model in self._building:
            raise NotImplementedError(f"a CASCADE cycle through {model._meta.label}")
        self._building.add(model)
        manager = model._base_manager.using(self.using)
        terms = [Q(pk__in=qs.values("pk")) for qs in self.roots.get(model, [])]
        terms += [Q(**{f"{name}__in": self.rows(parent).values("pk")})
                  for parent, name in self.parents.get(model, []) if parent is not model]
        qs = manager.filter(reduce(or_, terms))
        own = [name for parent, name in self.parents.get(model, []) if parent is model]
        if own:  # a model that cascades to itself (a validation run's source run): followed to the end, by id
            ids = set(qs.values_list("pk", flat=True))
            found = ids
            while found:
                found = set(manager.filter(reduce(or_, [Q(**{f"{name}__in": found}) for name in own]))
                            .exclude(pk__in=ids).values_list("pk", flat=True))
                ids |= found
            qs = manager.filter(pk__in=ids)
            self._followed[model] = ids
        self._building.discard(model)
        self._rows[model] = qs
        return qs

    def probe(self, model: type[models.Model]) -> QuerySet:
        """The same rows as `rows(model)`, written for reading few of them: each row looks up its parent by primary
        key (correlated EXISTS down to the roots) instead of testing membership in the parent's whole row set. A
        preview counts small tables this way: `rows` made PostgreSQL hash every chain of the dataset (4M at 500k
        questions, 3.5 s) to find that none of 36k shared chains was among them; the deletion keeps `rows`."""
        if model not in self._probes:
            if any(parent is model for parent, _name in self.parents.get(model, [])):
                self._probes[model] = self.rows(model)  # one that cascades to itself is followed by id in `rows`
            else:
                terms = [Exists(qs.filter(pk=OuterRef("pk"))) for qs in self.roots.get(model, [])]
                terms += [Exists(self.probe(parent).filter(pk=OuterRef(name)))
                          for parent, name in self.parents.get(model, [])]
                self._probes[model] = model._base_manager.using(self.using).filter(reduce(or_, terms))
        return self._probes[model]

    def estimable(self, model: type[models.Model]) -> QuerySet:
        """The same rows as `rows(model)`, written for the planner (the preview's estimates, the refusal check): the
        ids of the roots (a dataset, a run: few) as literals, so that PostgreSQL reads its statistics for them.
        Estimating `dataset_id IN (SELECT id FROM dataset WHERE slug = …)` it knows no dataset and takes the average
        one's share: at 500k questions in the dataset the preview said "about 382,500". A root of the model's own
        table is written as its own conditions, not as `pk IN (its rows)`: a subquery OR'd with a condition is
        estimated at half the table, and the dataset's questions, roots and reached from the dataset both, read
        "about 260,321" for a 10,000-question study (3,060,000 chains for its 80,000); as conditions, PostgreSQL
        drops the duplicate arm and reads the dataset's own share."""
        if model not in self._estimables:
            ids = self.few_root_ids(model)
            if ids is not None:
                qs = model._base_manager.using(self.using).filter(pk__in=ids)
            elif any(parent is model for parent, _name in self.parents.get(model, [])):
                qs = self.rows(model)  # one that cascades to itself is followed by id in `rows`
            else:  # one WHERE: the arms OR'd, a root's own conditions among them
                qs = reduce(or_, self._arms(model, self.estimable, self.few_root_ids))
            self._estimables[model] = qs
        return self._estimables[model]

    def guessed(self, model: type[models.Model]) -> QuerySet:
        """For the planner's estimate alone: the rows of `model` that the path reaching the most of them reaches
        (each parent by its own such path), a subset of `rows(model)`. PostgreSQL estimates a subquery OR'd with
        anything at half the table, so `estimable`'s OR of a dataset's chains through its questions and through its
        runs read "about 3,060,000" for a study's 80,000; the paths of a cascade mostly reach the same rows (those
        two are the same chains), and one alone is a subquery the planner joins and estimates from statistics."""
        if model not in self._guesses:
            if self.few_root_ids(model) is not None or any(p is model for p, _n in self.parents.get(model, [])):
                self._guesses[model] = (self.estimable(model), None)  # literal ids, or followed by id: no OR
            else:
                arms = self._arms(model, self.guessed, self._known_ids)
                if len(arms) == 1:
                    self._guesses[model] = (arms[0], None)
                else:
                    self._guesses[model] = max(((arm, planner_rows(arm)) for arm in arms),
                                               key=lambda found: found[1] or 0)
        return self._guesses[model][0]

    def guessed_rows(self, model: type[models.Model]) -> int | None:
        """The planner's estimate of `guessed(model)` (None off PostgreSQL), asked once."""
        qs, rows = self._guesses.get(model) or (self.guessed(model), None)
        if rows is None:
            rows = planner_rows(qs)
            self._guesses[model] = (qs, rows)
        return rows

    def _arms(self, model: type[models.Model], parent_rows: Callable[[type[models.Model]], QuerySet],
              parent_ids: Callable[[type[models.Model]], list[Any] | None]) -> list[QuerySet]:
        """Each way rows of `model` go: a root's own conditions, or pointing at a parent's rows that go (as
        `parent_rows` writes them, or as literal ids where `parent_ids` knows them)."""
        manager = model._base_manager.using(self.using)
        arms = [_own_conditions(manager, qs) for qs in self.roots.get(model, [])]
        for parent, name in self.parents.get(model, []):
            ids = parent_ids(parent)
            arms.append(manager.filter(**{f"{name}__in": parent_rows(parent).values("pk") if ids is None else ids}))
        return arms

    def _known_ids(self, model: type[models.Model]) -> list[Any] | None:
        """few_root_ids, or the ids `rows` found by following a model that cascades to itself (a dataset's runs)
        when at most LITERAL_IDS: as literals the planner reads their share of a child table from its statistics
        (a study's 80,000 chains of 4M), where `run_id IN (SELECT … WHERE id IN (3, 4))` read as half the table."""
        ids = self.few_root_ids(model)
        if ids is None and any(parent is model for parent, _name in self.parents.get(model, [])):
            self.rows(model)  # follows the ids into self._followed
            followed = self._followed.get(model)
            ids = sorted(followed) if followed is not None and len(followed) <= LITERAL_IDS else None
        return ids

    def few_root_ids(self, model: type[models.Model]) -> list[Any] | None:
        """The ids of `model`'s rows when they are roots alone (what the deletion was asked to remove, and the rows
        of its own table that cascade from them: a run's validation runs) and at most LITERAL_IDS; else None."""
        if model not in self._root_ids:
            ids = None
            if model in self.roots and all(parent is model for parent, _name in self.parents.get(model, [])):
                found = list(self.rows(model).order_by().values_list("pk", flat=True)[:LITERAL_IDS + 1])
                ids = found if len(found) <= LITERAL_IDS else None
            self._root_ids[model] = ids
        return self._root_ids[model]

    def _pointing(self, model: type[models.Model], name: str, target: type[models.Model]) -> QuerySet:
        """Rows of `model` that stay while their `name` points at a row of `target` that goes. Not `probe`'s form:
        a dataset's questions all point at its clips, and checking them one by one took 3.3 s at 500k, hashed 1 s.
        Written with the roots' ids as literals (`estimable`), PostgreSQL plans it for that dataset's share of the
        rows: 0.34 → 0.05 s at 50k questions."""
        qs = (model._base_manager.using(self.using).order_by()  # a default ordering would sort every row first
              .filter(**{f"{name}__in": self.estimable(target).values("pk")}))
        if model not in self.order:
            return qs
        own_ids = self.few_root_ids(model)
        if own_ids is not None:
            return qs.exclude(pk__in=own_ids)
        # A row whose parent is a literal root (the dataset) goes: tested on the row itself, a filter that leaves
        # the few rows of other datasets, which are then looked up one by one (`probe`) rather than against all
        # the rows that go, hashed (0.5 s of the 0.6 s check at 500k questions). Redundant with the lookup, not
        # instead of it: the roots need not be the literal parent's rows.
        literal = False
        for parent, field in self.parents.get(model, []):
            parent_ids = self.few_root_ids(parent)
            if parent is not model and parent_ids is not None:
                qs, literal = qs.exclude(**{f"{field}__in": parent_ids}), True
        # NOT EXISTS, not NOT IN: PostgreSQL runs a NOT IN whose subquery outgrows work_mem row by row
        going = self.probe(model) if literal else self.estimable(model)
        return qs.exclude(Exists(going.filter(pk=OuterRef("pk"))))

    def counts(self) -> Counter[str]:
        """{model label: rows removed}, as `QuerySet.delete()` reports them."""
        return Counter({model._meta.label: self.rows(model).count() for model in self.order})

    def tallies(self) -> dict[str, Tally]:
        """{model label: rows removed} for a preview: exact up to paging.EXACT_COUNT_UP_TO rows a table, the
        planner's estimate above it (a dataset at 500k questions reaches 4M chains and 8M verdicts, whose exact
        counts through these subqueries took minutes)."""
        with room_to_hash(self.using):
            return {model._meta.label: count_or_estimate(self.estimable(model), verify=True, counted=self.probe(model),
                                                         estimate=lambda m=model: self.guessed_rows(m))
                    for model in self.order}

    def refused_by(self, limit: int = 10) -> list[Any]:
        """Up to `limit` rows per relation that stay and PROTECT (or RESTRICT) a row the deletion removes."""
        found: list[Any] = []
        with room_to_hash(self.using):
            for model, name, target in self.refusing:
                # The rows found first, then `limit` of them: under a LIMIT of ten PostgreSQL walked all 500k clips
                # of a dataset expecting an early match, and the usual answer is none. A LIMIT inside the
                # subquery keeps it from being merged into that plan (it is planned for all its rows).
                pointing = self._pointing(model, name, target).values("pk")[:ALL_ROWS]
                found += list(model._base_manager.using(self.using).filter(pk__in=pointing).order_by()[:limit])
        return found

    def delete(self) -> Counter[str]:
        """Clear the SET_NULL references of the rows that stay, then delete table by table. Run it in a
        transaction: the counts and the deletes read the same rows only there."""
        if blocked := self.refused_by(limit=1):
            raise models.ProtectedError(f"{blocked[0]} refers to a row this deletion removes", set(blocked))
        for model, name, target in self.cleared:
            if target in self.order:
                self._pointing(model, name, target).update(**{name: None})
                if model in self.order and self.order.index(target) < self.order.index(model):
                    # and on the rows that go after their target, as the collector clears them: a trigger that reads
                    # the referenced row when its referrer goes (the review tallies read a chain's verdict of
                    # record, curation/review/tallies.py) would find it gone
                    self.rows(model).filter(**{f"{name}__in": self.rows(target).values("pk")}).update(**{name: None})
        removed: Counter[str] = Counter()
        for model in self.order:
            removed[model._meta.label] = self.rows(model)._raw_delete(self.using)
        return removed
