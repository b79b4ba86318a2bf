"""What the question page shows of a question's chains: verdicts, and claim highlights as text segments.

Highlighting is done here, not in the template: the chain text is cut at the claims' character offsets
into plain segments, and the template escapes each one, so model output can never inject markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.http import QueryDict

from pipeline.answers import answer_letter
from webapp.catalog.models import Question
from webapp.core.paging import Tally
from webapp.curation.models import Chain, GenerationRun, Verdict

# Without a verdict of record: a combined verdict first; then the LALM judge; then the sound-event grounding.
_PREFERENCE = ("policy", "combined", "lalm", "sound-events")
POLICY, LALM = "policy", "lalm"  # pipeline.validate's validator names
VERDICT_WORDS = ("supported", "contradicted", "unverifiable")


@dataclass
class Segment:
    text: str
    claim: dict[str, Any] | None = None

    @property
    def spans_json(self) -> str:
        return json.dumps((self.claim or {}).get("spans") or [])


@dataclass
class ChainView:
    chain: Chain
    verdicts: list[Verdict] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def answer_letter(self) -> str:
        return answer_letter(self.chain.parsed_answer)

    @property
    def primary(self) -> Verdict | None:
        return self.verdicts[0] if self.verdicts else None


def _rank(verdict: Verdict) -> int:
    name = verdict.validator.lower()
    return next((i for i, p in enumerate(_PREFERENCE) if p in name), len(_PREFERENCE))


def highlight(text: str, claims: list[dict[str, Any]]) -> list[Segment]:
    """Cut `text` at valid, non-overlapping claim offsets; invalid offsets are ignored, never trusted."""
    segments: list[Segment] = []
    pos = 0
    valid = [c for c in claims if isinstance(c.get("char_start"), int) and isinstance(c.get("char_end"), int)]
    for claim in sorted(valid, key=lambda c: (c["char_start"], c["char_end"])):
        start, end = claim["char_start"], claim["char_end"]
        if start < pos or end <= start or end > len(text):
            continue
        if start > pos:
            segments.append(Segment(text[pos:start]))
        segments.append(Segment(text[start:end], claim))
        pos = end
    if pos < len(text):
        segments.append(Segment(text[pos:]))
    return segments


VERDICT_COUNT_WORDS = (("pass", "pass"), ("fail", "fail"), ("uncertain", "unsure"))


def verdict_counts_in_words(counts: dict[str, int] | dict[str, int | Tally]) -> str:
    """'27 pass, 4 fail, 1 unsure': a validation run's outcome as a sentence, not a dict (a count may be an
    estimate, "about N").

    >>> verdict_counts_in_words({"fail": 4, "pass": 27, "uncertain": 1})
    '27 pass, 4 fail, 1 unsure'
    >>> verdict_counts_in_words({})
    'no verdict yet'
    """
    parts = [f"{counts[label]} {word}" for label, word in VERDICT_COUNT_WORDS if counts.get(label)]
    return ", ".join(parts) or "no verdict yet"


def progress_in_words(run: GenerationRun) -> str:
    """'12 / 40 questions' (a teacher run writes K chains a question) or '96 / 256 chains' (a validation run)."""
    if not run.progress_total:
        return run.progress_label
    unit = "questions" if run.kind == GenerationRun.Kind.TEACHER else "chains"
    return f"{run.progress_done} / {run.progress_total} {unit}"


def ordered_verdicts(chain: Chain, verdicts: list[Verdict]) -> list[Verdict]:
    """The verdict of record first, then the history (newest first); without a record, the preferred validator's
    newest verdict leads (a run still under way)."""
    return sorted(verdicts, key=lambda v: (v.pk != chain.verdict_id, _rank(v) if not chain.verdict_id else 0, -v.pk))


def shown_claims(chain: Chain, verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """The claims to highlight: the leading verdict's, which for a `both` run is the policy's and keeps the
    sound-event time spans (the judge's claims have none); each claim gets the same run's judge opinion beside it."""
    if not verdicts:
        return []
    lead = verdicts[0]
    claims = [dict(c) for c in lead.claims if isinstance(c, dict)]
    if lead.validator == POLICY:
        judge = next((v for v in verdicts if v.validator == LALM and v.run_id == lead.run_id), None)
        opinions = {(c.get("char_start"), c.get("char_end")): c.get("verdict")
                    for c in (judge.claims if judge else []) if isinstance(c, dict)}
        for claim in claims:
            opinion = opinions.get((claim.get("char_start"), claim.get("char_end")))
            if opinion in VERDICT_WORDS:
                claim["judge"] = opinion
    return claims


CHAINS_PER_RUN_PAGE = 8  # a K=64 run shown whole made the question page 25,000 px tall


@dataclass
class RunChains:
    """One run's chains of a question, a page at a time, paged by its own query parameter (`run_<id>`), so each
    run pages on its own and every page is a plain link (no script needed)."""

    run: GenerationRun
    page: Page
    chains: list[ChainView]
    kept: int
    params: QueryDict

    @property
    def param(self) -> str:
        return f"run_{self.run.pk}"

    def _url(self, number: int) -> str:
        params = self.params.copy()
        params[self.param] = str(number)
        return f"?{params.urlencode()}#run-{self.run.pk}-chains"

    @property
    def previous_url(self) -> str:
        return self._url(self.page.previous_page_number()) if self.page.has_previous() else ""

    @property
    def next_url(self) -> str:
        return self._url(self.page.next_page_number()) if self.page.has_next() else ""


def chains_for_question(question: Question, params: QueryDict | None = None) -> list[RunChains]:
    """The question's chains grouped by run, each run paged (CHAINS_PER_RUN_PAGE a page): two queries per run."""
    params = params if params is not None else QueryDict()
    runs = (GenerationRun.objects.filter(chains__question=question).distinct().order_by("pk")
            .annotate(kept=Count("chains", filter=Q(chains__question=question, chains__kept=True))))
    groups = []
    for run in runs:
        chains = question.chains.filter(run=run).prefetch_related("verdicts").order_by("sample_index")
        page = Paginator(chains, CHAINS_PER_RUN_PAGE).get_page(params.get(f"run_{run.pk}"))
        views = []
        for chain in page.object_list:
            verdicts = ordered_verdicts(chain, list(chain.verdicts.all()))
            views.append(ChainView(chain=chain, verdicts=verdicts,
                                   segments=highlight(chain.text, shown_claims(chain, verdicts))))
        groups.append(RunChains(run=run, page=page, chains=views, kept=run.kept, params=params))
    return groups
