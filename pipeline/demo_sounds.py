"""Demo clips the sound-event tagger (YAMNet) really recognises, and hand-written chains about them to review.

The tiny random teacher writes noise, so a demo built on it has nothing to review. This one ships content a curator
can check by ear: two generated sounds (evenly spaced 1 kHz beeps, which YAMNet tags "Beep, bleep"; a 350 + 440 Hz
telephone dial tone, "Dial tone" / "Telephone") and three Creative Commons recordings in `pipeline/demo_media/`, each
with its attribution file (a robin whistling, "Bird"; a LibriSpeech reading, "Speech"; a solo trumpet, "Trumpet").
Per clip there are chains of four kinds, in the `<think>…</think><answer>…</answer>` format:

- grounded: names only what is heard (the sound-event validator passes it);
- invented: answers right but describes a sound that is not there (a barking dog, a siren): the tagger contradicts
  it, so the validator fails it;
- half-right: one true sound and one invented one (fails under "any contradiction");
- paraphrase: the true sound described in other words (passes where the lexicon maps the words, else uncertain);

plus one chain with a wrong answer and one with none, which the teacher's selection drops with its reason.

And, so that each chain flag (pipeline/flags.py) and split leakage show up in the demo: a chain that restates the
robin's answer and nothing else, one that answers the trumpet question from an imagined picture (visual-only), a
second question on the dial tone whose one right chain out of four is a lucky guess, and a *test* split question
on the robin's clip, asking what its train question asks (a leaked clip and question text).

Written as an MMAU-format annotation file (audio-only questions, answers as text) and a chains JSONL in the short
import form `{id, question, chain}`, so bootstrap imports both through the ordinary front doors.

    python -m pipeline.demo_sounds --out DIR
"""

from __future__ import annotations

import argparse
import filecmp
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.synth import write_text_if_changed, write_wav

log = logging.getLogger(__name__)

MEDIA = Path(__file__).resolve().parent / "demo_media"
SAMPLE_RATE = 16_000
AUDIO_DIR = "audio"
QUESTIONS_NAME = "demo_sounds_mmau.json"
CHAINS_NAME = "demo_sounds_chains.jsonl"
CHAINS_MODEL = "hand-written demo chains (pipeline/demo_sounds.py)"


def _beeps(duration: float = 5.0) -> np.ndarray:
    """1 kHz beeps of 0.15 s every 0.5 s."""
    t = np.arange(round(duration * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 1000.0 * t) * ((t % 0.5) < 0.15)).astype(np.float32)


def _dial_tone(duration: float = 5.0) -> np.ndarray:
    """The North American dial tone: 350 Hz and 440 Hz together, steady."""
    t = np.arange(round(duration * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * (np.sin(2 * np.pi * 350.0 * t) + np.sin(2 * np.pi * 440.0 * t))).astype(np.float32)


@dataclass(frozen=True)
class DemoClip:
    slug: str
    file: str  # generated .wav, or a recording shipped in demo_media/
    question: str
    choices: tuple[str, ...]  # choices[0] is right
    chains: dict[str, str]  # kind -> chain text


def _chain(think: str, answer: str) -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


CLIPS: tuple[DemoClip, ...] = (
    DemoClip(
        "beeps",
        "demo_beeps.wav",
        "Which sound repeats through the clip?",
        ("Short electronic beeps", "A dog barking", "Rain on a roof", "A person speaking"),
        {
            "grounded": _chain(
                "I hear short, high electronic beeps, evenly spaced, from the start of the clip to its "
                "end. Nothing else is audible.",
                "Short electronic beeps",
            ),
            "invented": _chain(
                "I hear a dog barking loudly, and a siren wails in the distance behind it. The "
                "barking repeats, but the option with beeps fits best.",
                "Short electronic beeps",
            ),
            "half_right": _chain(
                "I hear beeps repeating every half second, and a crowd cheering and applauding behind them.",
                "Short electronic beeps",
            ),
            "paraphrase": _chain(
                "A high electronic bleep sounds again and again at a steady pace, like a timer.",
                "Short electronic beeps",
            ),
            "wrong": _chain("I hear rain falling on a roof.", "Rain on a roof"),
        },
    ),
    DemoClip(
        "dial_tone",
        "demo_dial_tone.wav",
        "What does this clip sound like?",
        ("A telephone dial tone", "Birdsong", "A trumpet solo", "Applause"),
        {
            "grounded": _chain(
                "I hear the steady tone of a telephone, a dial tone, unchanged for the whole clip.",
                "A telephone dial tone",
            ),
            "invented": _chain(
                "I hear a trumpet playing a melody and people applauding at the end, then a phone tone.",
                "A telephone dial tone",
            ),
            "half_right": _chain(
                "A dial tone hums throughout, and a baby is crying in the background.", "A telephone dial tone"
            ),
            "paraphrase": _chain(
                "The sound is the continuous hum you hear when you lift a telephone handset before dialling.",
                "A telephone dial tone",
            ),
            "no_answer": "<think>It is a steady tone, maybe a phone or maybe an organ; I cannot tell.",
        },
    ),
    DemoClip(
        "robin",
        "456440__inspectorj__bird-whistling-robin-single-13.ogg",
        "What makes the sound in this clip?",
        ("A bird", "A car engine", "A violin", "A telephone"),
        {
            "grounded": _chain("I hear a bird chirping: a short whistled bird call.", "A bird"),
            "invented": _chain("I hear a car engine revving and a horn honking, then a bird.", "A bird"),
            "half_right": _chain("A bird sings, and a dog barks twice while it sings.", "A bird"),
            "paraphrase": _chain("A small songbird whistles a quick, bright call.", "A bird"),
        },
    ),
    DemoClip(
        "speech",
        "198-209-0000.ogg",
        "What is heard in this clip?",
        ("A woman reading aloud", "A dog barking", "A trumpet", "A siren"),
        {
            "grounded": _chain(
                "I hear a woman speaking calmly, reading a passage aloud; there is no music.", "A woman reading aloud"
            ),
            "invented": _chain(
                "I hear a siren and traffic noise, with a car horn honking, under someone reading.",
                "A woman reading aloud",
            ),
            "half_right": _chain("A woman speaks, and piano music plays behind her voice.", "A woman reading aloud"),
            "paraphrase": _chain(
                "Someone narrates a story in a steady voice, like an audiobook.", "A woman reading aloud"
            ),
        },
    ),
    DemoClip(
        "trumpet",
        "sorohanro_-_solo-trumpet-06.ogg",
        "Which instrument plays?",
        ("A trumpet", "A piano", "A drum kit", "An acoustic guitar"),
        {
            "grounded": _chain("I hear a trumpet playing a short jazzy phrase on its own.", "A trumpet"),
            "invented": _chain(
                "I hear a drum kit and an electric guitar playing loudly, and a crowd cheering.", "A trumpet"
            ),
            "half_right": _chain("A trumpet plays a melody while a drum kit keeps the beat.", "A trumpet"),
            "paraphrase": _chain("A brass instrument plays a bluesy line, solo.", "A trumpet"),
        },
    ),
)

GENERATED = {"demo_beeps.wav": _beeps, "demo_dial_tone.wav": _dial_tone}
TEST_QUESTIONS_NAME = "demo_sounds_test_mmau.json"
# The flag demo's chains live in a file of their own, so the chains file above stays byte for byte what an existing
# install imported (a changed file would be imported again, as a second run, duplicating every chain).
FLAG_CHAINS_NAME = "demo_sounds_flag_chains.jsonl"
# (clip slug, kind) -> a chain a flag catches: restating the robin's answer, answering the trumpet from a picture
FLAG_CHAINS: dict[tuple[str, str], str] = {
    ("robin", "restating"): _chain("What makes the sound in this clip is a bird, so the answer is a bird.", "A bird"),
    ("trumpet", "visual"): _chain("The picture shows a man on a small stage in a spotlight, holding a shiny brass "
                                  "instrument to his lips, with a valve under each finger.", "A trumpet"),
}


@dataclass(frozen=True)
class DemoQuestion:
    """A further question on one of the CLIPS' audio (its `clip` slug), with its own chains."""

    id: str
    clip: str
    question: str
    choices: tuple[str, ...]  # choices[0] is right
    chains: dict[str, str]


# The teacher got this one right once in four samples: the right chain is kept, and flagged as a lucky guess.
LUCKY = DemoQuestion(
    "demo-sound-dial_tone-pitch", "dial_tone", "Does the tone's pitch change during the clip?",
    ("No, it stays steady", "It rises", "It falls", "It wobbles up and down"),
    {
        "steady": _chain("I hear one steady tone whose pitch never changes from start to end.", "No, it stays steady"),
        "rises": _chain("I hear the tone sliding upward in pitch towards the end.", "It rises"),
        "falls": _chain("I hear the tone drop lower in pitch after a second.", "It falls"),
        "rises_again": _chain("The tone sounds like it climbs in pitch, like a siren starting.", "It rises"),
    },
)



def _row(qid: str, file: str, question: str, choices: tuple[str, ...], position: int) -> dict[str, object]:
    """An MMAU row with the right choice (choices[0]) moved to `position`."""
    ordered = list(choices[1:])
    ordered.insert(position % len(choices), choices[0])
    return {"id": qid, "audio_id": file, "question": question, "choices": ordered, "answer": choices[0],
            "category": "Information Extraction", "sub-category": "Sound identification", "difficulty": "easy",
            "task": "sound", "dataset": "SightSound demo"}


def _file(slug: str) -> str:
    return next(clip.file for clip in CLIPS if clip.slug == slug)


def questions() -> list[dict[str, object]]:
    """MMAU rows (train); choices keep their order (answers are text, so "A" is not always right: the order is
    fixed per clip and chosen so the right one is not always first)."""
    rows = [_row(f"demo-sound-{clip.slug}", clip.file, clip.question, clip.choices, i) for i, clip in enumerate(CLIPS)]
    return [*rows, _row(LUCKY.id, _file(LUCKY.clip), LUCKY.question, LUCKY.choices, 1)]


def held_out_questions() -> list[dict[str, object]]:
    """The test split: the robin's train question again, on the same clip — the leak the dataset page shows."""
    robin = next(i for i, clip in enumerate(CLIPS) if clip.slug == "robin")
    row = _row("demo-sound-robin-test", CLIPS[robin].file, CLIPS[robin].question, CLIPS[robin].choices, robin)
    return [row]


def chains() -> list[dict[str, str]]:
    return [
        {"id": f"{clip.slug}-{kind}", "question": f"demo-sound-{clip.slug}", "chain": text, "model": CHAINS_MODEL}
        for clip in CLIPS
        for kind, text in clip.chains.items()
    ]


def flag_chains() -> list[dict[str, str]]:
    """The chains each flag catches (pipeline/flags.py): FLAG_CHAINS, and the lucky-guess question's four."""
    rows = [{"id": f"{slug}-{kind}", "question": f"demo-sound-{slug}", "chain": text, "model": CHAINS_MODEL}
            for (slug, kind), text in FLAG_CHAINS.items()]
    return [*rows, *({"id": f"{LUCKY.clip}-pitch-{kind}", "question": LUCKY.id, "chain": text,
                      "model": CHAINS_MODEL} for kind, text in LUCKY.chains.items())]


def build_demo_sounds(out_dir: Path) -> Path:
    """Write the clips to out_dir/audio, the questions and the chains beside them; return out_dir.

    Idempotent and cheap: files whose bytes would not change are left untouched.
    """
    out_dir = Path(out_dir)
    audio = out_dir / AUDIO_DIR
    audio.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        target = audio / clip.file
        if clip.file in GENERATED:
            tmp = write_wav(target.with_name(f".{clip.file}.tmp.wav"), GENERATED[clip.file](), SAMPLE_RATE)
            if target.is_file() and filecmp.cmp(tmp, target, shallow=False):
                tmp.unlink()  # unchanged: keep the file (and its mtime) as it is
            else:
                tmp.replace(target)
        elif not target.is_file() or target.stat().st_size != (MEDIA / clip.file).stat().st_size:
            shutil.copyfile(MEDIA / clip.file, target)
            shutil.copyfile((MEDIA / clip.file).with_suffix(".txt"), target.with_suffix(".txt"))
    write_text_if_changed(out_dir / QUESTIONS_NAME, json.dumps(questions(), indent=2) + "\n")
    write_text_if_changed(out_dir / TEST_QUESTIONS_NAME, json.dumps(held_out_questions(), indent=2) + "\n")
    write_text_if_changed(out_dir / CHAINS_NAME, "".join(json.dumps(row) + "\n" for row in chains()))
    write_text_if_changed(out_dir / FLAG_CHAINS_NAME, "".join(json.dumps(row) + "\n" for row in flag_chains()))
    log.info("demo sounds: %d clips, %d chains in %s", len(CLIPS), len(chains()), out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the demo sound clips, their questions and demo chains.")
    ap.add_argument("--out", type=Path, required=True)
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build_demo_sounds(ns.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
