"""GRPO reward functions: pure, documented, and looked up by name from one registry.

TRL calls every reward as `func(prompts=..., completions=..., completion_ids=..., **dataset_columns)` and reads
the returned list position by position. Returning `None` means "cannot judge this completion" (for example a row
without a gold answer): TRL turns it into NaN and leaves it out of the group baseline, which is what we want,
whereas 0.0 would punish the policy for our missing label.

The answer is read with `pipeline.answers` — the same rules the teacher's correctness check and the evaluation use —
so a completion that counts as right in evaluation also earns the reward during training.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.answers import LETTERS, extract_answer, extract_open_answer, format_ok, open_answer_matches

__all__ = [
    "REWARD_FUNCS",
    "accuracy_reward",
    "answer_format_reward",
    "completion_text",
    "format_reward",
    "get_length_reward",
    "get_reward_funcs",
    "gold_letter",
    "length_reward",
]

log = logging.getLogger(__name__)

RewardFunc = Callable[..., list[float | None]]

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_PARTIAL_CREDIT = 0.2
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The assistant text of one completion, in either shape TRL passes.

    Conversational datasets give `[{"role": "assistant", "content": "..."}]` (content may also be a list of
    text parts); plain-text datasets give the string itself.

    >>> completion_text([{"role": "assistant", "content": "<answer>B</answer>"}])
    '<answer>B</answer>'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}])
    'hi'
    >>> completion_text("plain")
    'plain'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    parts: list[str] = []
    for message in completion:
        content = message.get("content", "") if isinstance(message, dict) else message
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text") or "" for p in content if isinstance(p, dict))
    return "".join(parts)


def gold_letter(answer: Any, n_choices: int | None) -> str | None:
    """The gold answer as an option letter when it is one ("B", "b", 1), else None (free text)."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return LETTERS[answer] if 0 <= answer < (n_choices or len(LETTERS)) else None
    text = str(answer).strip().strip("().").strip()
    if len(text) == 1 and text.upper() in LETTERS and (n_choices is None or LETTERS.index(text.upper()) < n_choices):
        return text.upper()
    return None


def _predicted_letter(text: str, choices: Sequence[str] | None, lettered: bool = True) -> str | None:
    """Parse the final answer as a letter; without the choice texts, any letter A-Z is accepted."""
    if choices:
        index = extract_answer(text, list(choices), lettered=lettered)
        return None if index is None else LETTERS[index]
    letters = [f"choice {c}" for c in LETTERS]  # stand-in choices so only a letter can match
    index = extract_answer(text, letters)
    return None if index is None else LETTERS[index]


def accuracy_reward(
    completions: Sequence[Any], answer: Sequence[Any] | None = None, choices: Sequence[Any] | None = None,
    lettered: Sequence[Any] | None = None, **kwargs: Any,
) -> list[float | None]:
    """1.0 when the final answer matches the gold `answer` column, 0.0 when not, None when it cannot be judged.

    A letter gold ("B") is compared with the parsed option (the choice text also counts when `choices` is given);
    the `lettered` column (default true) says whether the prompt lettered the choices — false in R1-AQA mode,
    where only the choice text counts (`pipeline.answers` rule 4). Any other gold is a free-text answer, matched
    by `open_answer_matches` (rule 5). A missing or empty gold gives None so TRL skips that row instead of
    treating it as wrong. `**kwargs` absorbs the other dataset columns TRL passes.

    >>> done = [[{"role": "assistant", "content": "<think>high pitch</think><answer>B</answer>"}],
    ...         [{"role": "assistant", "content": "<think>low</think><answer>A</answer>"}],
    ...         [{"role": "assistant", "content": "<think>hmm</think><answer>the dog</answer>"}],
    ...         [{"role": "assistant", "content": "no answer"}]]
    >>> accuracy_reward(done, answer=["B", "B", "B", None], choices=[["cat", "dog"]] * 4)
    [1.0, 0.0, 1.0, None]
    >>> accuracy_reward(["<answer>A Church Bell.</answer>"], answer=["a church bell"])
    [1.0]
    """
    n = len(completions)
    golds = list(answer) if answer is not None else [None] * n
    all_choices = list(choices) if choices is not None else [None] * n
    all_lettered = [True if x is None else bool(x) for x in lettered] if lettered is not None else [True] * n
    if len(golds) != n or len(all_choices) != n or len(all_lettered) != n:
        raise ValueError(f"accuracy_reward: {n} completions but {len(golds)} answers, {len(all_choices)} choices "
                         f"and {len(all_lettered)} lettered flags")
    rewards: list[float | None] = []
    for completion, gold, row_choices, row_lettered in zip(completions, golds, all_choices, all_lettered,
                                                          strict=True):
        if gold is None or (isinstance(gold, str) and not gold.strip()):
            rewards.append(None)
            continue
        text = completion_text(completion)
        want = gold_letter(gold, len(row_choices) if row_choices else None)
        if want is not None:
            rewards.append(float(_predicted_letter(text, row_choices, row_lettered) == want))
        else:
            rewards.append(float(open_answer_matches(extract_open_answer(text), str(gold))))
    return rewards


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for exactly `<think>…</think><answer>…</answer>`, else 0.2 per tag present exactly once.

    Partial credit gives a random policy a gradient towards the format before it ever produces it whole, and
    tops out at 0.8 so the complete format always scores higher.

    >>> format_reward(["<think>two tones</think>\\n<answer>A</answer>", "<answer>A</answer>", "nothing"])
    [1.0, 0.4, 0.0]
    """
    rewards: list[float | None] = []
    for completion in completions:
        text = completion_text(completion)
        partial = sum(text.count(tag) == 1 for tag in _TAGS) * _PARTIAL_CREDIT
        rewards.append(1.0 if format_ok(text) else round(partial, 4))
    return rewards


_ANSWER_ONLY = re.compile(r"\s*<answer>(?:(?!</?answer>).)+</answer>\s*", re.DOTALL)


def answer_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for exactly one `<answer>…</answer>` and nothing else: R1-AQA's format reward (its prompt asks for no
    reasoning, so the `<think>` format reward would punish obeying it).

    >>> answer_format_reward(["<answer>a dog</answer>", "<think>x</think><answer>B</answer>", "B"])
    [1.0, 0.0, 0.0]
    """
    return [1.0 if _ANSWER_ONLY.fullmatch(completion_text(c)) else 0.0 for c in completions]


def get_length_reward(target_chars: int = 400, tolerance: float = 0.5) -> RewardFunc:
    """Build a reward that prefers reasoning of about `target_chars` characters inside `<think>`.

    1.0 within `tolerance` (relative) of the target, falling linearly to 0.0 at zero length or at twice the
    upper bound; None when there is no closed `<think>` block (the format reward already handles that).
    """
    if target_chars <= 0 or not 0 <= tolerance < 1:
        raise ValueError("length reward needs target_chars > 0 and 0 <= tolerance < 1")
    low, high = target_chars * (1 - tolerance), target_chars * (1 + tolerance)

    def length_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """Reward `<think>` length close to the target; see `get_length_reward`.

        >>> length_reward(["<think>" + "x" * 400 + "</think><answer>A</answer>", "<think>x</think>", "<answer>A"])
        [1.0, 0.005, None]
        """
        rewards: list[float | None] = []
        for completion in completions:
            m = _THINK.search(completion_text(completion))
            if m is None:
                rewards.append(None)
                continue
            n = len(m.group(1).strip())
            if low <= n <= high:
                rewards.append(1.0)
            elif n < low:
                rewards.append(round(n / low, 4))
            else:
                rewards.append(round(max(0.0, 1.0 - (n - high) / high), 4))
        return rewards

    return length_reward


length_reward = get_length_reward()

REWARD_FUNCS: dict[str, RewardFunc] = {
    "accuracy": accuracy_reward,
    "answer_format": answer_format_reward,
    "format": format_reward,
    "length": length_reward,
}


def get_reward_funcs(names: Sequence[str]) -> list[RewardFunc]:
    """Registry lookup for a recipe's `reward_funcs`; an unknown name fails before any model is loaded.

    >>> [f.__name__ for f in get_reward_funcs(["accuracy", "format"])]
    ['accuracy_reward', 'format_reward']
    >>> get_reward_funcs(["acuracy"])
    Traceback (most recent call last):
    ...
    ValueError: unknown reward function 'acuracy'; choose from ['accuracy', 'answer_format', 'format', 'length']
    """
    if isinstance(names, str):
        raise ValueError(f"reward_funcs must be a list of names, got the string {names!r}")
    unknown = [n for n in names if n not in REWARD_FUNCS]
    if unknown:
        raise ValueError(f"unknown reward function {unknown[0]!r}; choose from {sorted(REWARD_FUNCS)}")
    if not names:
        raise ValueError(f"at least one reward function is needed; choose from {sorted(REWARD_FUNCS)}")
    return [REWARD_FUNCS[n] for n in names]
