from __future__ import annotations

import doctest

import pytest

import pipeline.rewards as rewards
from pipeline.rewards import REWARD_FUNCS, accuracy_reward, format_reward, get_reward_funcs


def _chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_it_passes_its_doctests() -> None:
    result = doctest.testmod(rewards)
    assert result.attempted >= 6 and result.failed == 0


def test_it_registers_named_callables() -> None:
    assert set(REWARD_FUNCS) == {"accuracy", "answer_format", "format", "length"}
    for name, func in REWARD_FUNCS.items():
        assert func.__name__ == f"{name}_reward"  # TRL logs rewards under __name__


def test_it_rejects_unknown_or_malformed_names() -> None:
    with pytest.raises(ValueError, match="unknown reward function 'acc'"):
        get_reward_funcs(["accuracy", "acc"])
    with pytest.raises(ValueError, match="list of names"):
        get_reward_funcs("accuracy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        get_reward_funcs([])


def test_it_scores_letters_choice_text_and_skips_the_unverifiable() -> None:
    completions = [_chat("<think>It is high.</think><answer>B</answer>"),
                   _chat("<think>Maybe B?</think><answer>A</answer>"),  # letters in the reasoning never count
                   _chat("<think>..</think><answer>high</answer>"),
                   _chat("<think>..</think>"),
                   _chat("<answer>B</answer>")]
    got = accuracy_reward(completions, answer=["B", "B", "B", "B", ""], choices=[["low", "high"]] * 5)
    assert got == [1.0, 0.0, 1.0, 0.0, None]


def test_it_accepts_plain_strings_and_index_golds_and_open_answers() -> None:
    assert accuracy_reward(["<answer>(c)</answer>", "<answer>C</answer>"], answer=[2, "c"]) == [1.0, 1.0]
    assert accuracy_reward(["<answer>Two bells.</answer>", "<answer>one bell</answer>"],
                           answer=["two bells", "two bells"]) == [1.0, 0.0]


def test_it_fails_loudly_on_misaligned_columns() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 answers"):
        accuracy_reward(["a", "b"], answer=["A"])


def test_it_gives_full_format_credit_only_to_the_complete_format() -> None:
    got = format_reward([_chat("<think>x</think><answer>A</answer>"),
                         _chat("<think>x</think><answer>A</answer> trailing"),
                         _chat("<think>x<answer>A</answer>"), _chat("")])
    assert got[0] == 1.0 and got[3] == 0.0
    assert 0 < got[2] < got[1] < 1.0


def test_it_rewards_the_option_a_letter_names_when_choices_were_lettered_and_the_text_in_r1_aqa_mode() -> None:
    notes = [["C", "D", "E", "F"]] * 2
    done = ["<think>x</think><answer>C</answer>", "<think>x</think><answer>E</answer>"]
    # gold is the third option, "E": a lettered prompt's "C" names it; in R1-AQA mode the text "E" does
    assert accuracy_reward(done, answer=["C", "C"], choices=notes) == [1.0, 0.0]
    assert accuracy_reward(done, answer=["C", "C"], choices=notes, lettered=[False, False]) == [0.0, 1.0]


def test_it_rewards_open_answers_by_number_and_article_rules() -> None:
    done = ["<answer>2 instruments</answer>", "<answer>The Cellos</answer>", "<answer>2 or 3</answer>"]
    assert accuracy_reward(done, answer=["two", "cello", "two"]) == [1.0, 1.0, 0.0]
