"""Recognising a user's own things: DreamBooth subjects enrolled as personal memories.

For 1-shot (first photo of each subject) and 2-shot (first two) enrolment under its name
for one user, every other photo is recognised. Printed as one JSON line:

- top1: the best-matching concept is the right one (threshold ignored);
- claimed_correct: right *and* above the recognition threshold (what the assistant says);
- lookalike_top1: top-1 among photos of the look-alike dogs (dog, dog2, dog3 — each other's
  confusers), and the same for the cat and the plush toys;
- false_claim: photos of subjects never enrolled (a fourth dog, a plush sloth, a backpack
  with a dog print, a robot toy) that get claimed as some concept anyway;
- a threshold sweep, for both enrolment sizes and croppers.

    .venv/bin/python benchmarks/personal.py [--cropper whole] [--data ../shared/data/dreambooth]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from mmrag import RAG, load_pipeline

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreambooth"
#: Never enrolled: their photos measure false claims (each has an enrolled look-alike).
HELD_OUT = ("dog5", "grey_sloth_plushie", "backpack_dog", "robot_toy")
LOOKALIKES = {"dogs": ("dog", "dog2", "dog3"), "plush": ("bear_plushie", "duck_toy", "monster_toy")}


def run(data: Path, shots: int, cropper: str) -> dict[str, Any]:
    subjects = sorted(p.name for p in data.iterdir() if p.is_dir())
    photos = {s: sorted((data / s).glob("*.jpg")) for s in subjects}
    workdir = Path(tempfile.mkdtemp(prefix="mmrag-personal-"))
    config = load_pipeline("default").model_dump(mode="json")
    config["memory"]["cropper"] = {"type": cropper}
    from mmrag.config import PipelineConfig

    rag = RAG.open(workdir / "store", pipeline=PipelineConfig.from_dict(config))
    memories = rag.memories("tester")
    enrolled = [s for s in subjects if s not in HELD_OUT]
    for subject in enrolled:
        memories.add(subject, photos=photos[subject][:shots], category=subject)
    known, unknown = [], []
    for subject in subjects:
        queries = photos[subject][shots:] if subject in enrolled else photos[subject]
        for photo in queries:
            found = memories.recognise(photo, limit=1)
            best = found[0] if found else None
            row = (subject, best.memory.key if best else None, best.similarity if best else -1.0)
            (known if subject in enrolled else unknown).append(row)
    threshold = rag.config.memory.recognition_threshold
    result: dict[str, Any] = {
        "shots": shots,
        "cropper": cropper,
        "enrolled_subjects": len(enrolled),
        "queries_known": len(known),
        "queries_unknown": len(unknown),
        "threshold": threshold,
        **_metrics(known, unknown, threshold),
        "lookalike_top1": {
            group: round(statistics.fmean(float(b == s) for s, b, _ in known if s in members), 3)
            for group, members in LOOKALIKES.items()
        },
        "sweep": [
            {"threshold": t, **_metrics(known, unknown, t)}
            for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
        ],
    }
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _metrics(
    known: list[tuple[str, str | None, float]],
    unknown: list[tuple[str, str | None, float]],
    t: float,
) -> dict[str, float]:
    return {
        "top1": round(statistics.fmean(float(b == s) for s, b, _ in known), 3),
        "claimed_correct": round(
            statistics.fmean(float(b == s and sim >= t) for s, b, sim in known), 3
        ),
        "claimed_wrong": round(
            statistics.fmean(float(b != s and sim >= t) for s, b, sim in known), 3
        ),
        "false_claim": round(statistics.fmean(float(sim >= t) for _, _, sim in unknown), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cropper", action="append", help="whole and/or multi-crop (default both)")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    results = [
        run(args.data, shots, cropper)
        for cropper in (args.cropper or ["whole", "multi-crop"])
        for shots in (1, 2)
    ]
    print(json.dumps({"benchmark": "personal", "runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
