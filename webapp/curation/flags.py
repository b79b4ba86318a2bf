"""Chain flags (pipeline/flags.py) computed for stored chains in batches, and the query helpers that read them.

Why here and not in the teacher stage: the lucky-guess rule reads the question's agreement across K, which the web
app stores (TeacherQuestion) only once a question's chains are written, and an import or an old run is flagged the
same way (`manage.py flag_chains`). The teacher's original text is flagged; a curator's edit does not unflag it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db.models import QuerySet

from pipeline.flags import FLAGS, FlagConfig, FlagItem, flag_chains
from webapp.core.bitsets import flag_filter, lacking
from webapp.curation.models import Chain, TeacherQuestion

logger = logging.getLogger(__name__)

BATCH = 256
CHOICES = [(name, label) for name, (_bit, label) in FLAGS.items()]


def config() -> FlagConfig:
    return FlagConfig(lucky_max_support=settings.FLAG_LUCKY_MAX_SUPPORT_PERCENT / 100)


BITS = {name: bit for name, (bit, _label) in FLAGS.items()}


def with_flag(chains: QuerySet[Chain], value: str) -> QuerySet[Chain]:
    """Chains carrying flag `value` (a name), "any" flag, or "none"."""
    return flag_filter(chains, "flags", value, BITS)


def without_flags(chains: QuerySet[Chain], names: Iterable[str]) -> QuerySet[Chain]:
    """Chains carrying none of the flags `names` (a snapshot leaves these flagged chains out)."""
    return lacking(chains, "flags", sum(BITS[n] for n in set(names)))


def flag_labels(bits: int) -> list[tuple[str, str]]:
    """(name, label) of each flag set in `bits`, for chips."""
    return [(name, label) for name, (bit, label) in FLAGS.items() if bits & bit]


def _support(stats: TeacherQuestion | None) -> float | None:
    if stats is None or stats.n_correct is None or not stats.n_samples:
        return None
    return stats.n_correct / stats.n_samples


def _item(chain: Chain, stats: TeacherQuestion | None) -> FlagItem:
    q = chain.question
    chosen = q.choices[chain.parsed_answer] if chain.parsed_answer is not None and chain.parsed_answer < len(
        q.choices) else chain.open_answer
    return FlagItem(id=str(chain.pk), text=chain.text, question=q.text, chosen_text=chosen,
                    answered=chain.parsed_answer is not None or bool(chain.open_answer),
                    is_correct=chain.is_correct, answer_support=_support(stats))


def flag(chains: QuerySet[Chain]) -> int:
    """Compute and store the flags of `chains`, BATCH at a time (one claim-extraction batch each); returns how
    many chains carry a flag now."""
    cfg = config()
    n_flagged = 0
    batch: list[Chain] = []
    for chain in chains.select_related("question").order_by("pk").iterator(chunk_size=BATCH):
        batch.append(chain)
        if len(batch) >= BATCH:
            n_flagged += _flag_batch(batch, cfg)
    n_flagged += _flag_batch(batch, cfg)
    return n_flagged


def _flag_batch(batch: list[Chain], cfg: FlagConfig) -> int:
    if not batch:
        return 0
    stats = {(s.run_id, s.question_id): s for s in TeacherQuestion.objects.filter(
        run_id__in={c.run_id for c in batch}, question_id__in={c.question_id for c in batch})}
    bits = flag_chains([_item(c, stats.get((c.run_id, c.question_id))) for c in batch], cfg)
    for chain, b in zip(batch, bits, strict=True):
        chain.flags = b
    Chain.objects.bulk_update(batch, ["flags"], batch_size=BATCH)
    n = sum(1 for b in bits if b)
    batch.clear()
    return n


def flag_run(run_id: int) -> int:
    """Flag a teacher run's (or an import's) chains once its chains are stored."""
    n = flag(Chain.objects.filter(run_id=run_id))
    logger.info("run %s: %s chains flagged", run_id, n)
    return n
