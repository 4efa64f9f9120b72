"""Recognising a user's own things: DreamBooth subjects enrolled as personal memories.

For 1-shot (first photo of each subject) and 2-shot (first two) enrolment under its name
for one user, every other photo is recognised. Printed as one JSON line:

- top1: the best-matching concept is the right one (threshold ignored);
- claimed_correct: right *and* above the recognition threshold (what the assistant says);
- lookalike_top1: top-1 among photos of the look-alike dogs (dog, dog2, dog3 — each other's
  confusers), and the same for the cat and the plush toys;
- false_claim: photos of subjects never enrolled (a fourth dog, a plush sloth, a backpack
  with a dog print, a robot toy) that get claimed as some concept anyway;
- a threshold sweep, for both enrolment sizes and croppers;
- top1/claimed_correct/false_claim are the pipeline's own claims (``memory.recognition``,
  calibrated per concept by default); ``fixed`` is what ``recognition_threshold`` alone
  would have claimed on the same similarities (the rule before calibration);
- lookalike_runs: RAP's dog ``bo`` (``--reference``, rap/bo_train) enrolled with 1, 2 and
  5 photos next to one photo of every non-dog subject, against the DreamBooth dogs, never
  enrolled: bo's later photos claimed, other dogs claimed as bo, balanced accuracy.

    .venv/bin/python benchmarks/personal.py [--cropper whole] [--data ../shared/data/dreambooth]
        [--held-out NAME ...] [--lookalikes GROUP=A,B,C ...]

On another folder of the same shape (one sub-folder of photos per subject, optionally a
``classes.txt`` of ``subject,class`` lines) the never-enrolled and look-alike subjects
are derived from the data unless given: the look-alike groups are the classes with
several subjects, and one subject of each such class is held out. A group without
photos to measure is reported as null, never a crash.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmrag import RAG, load_pipeline

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dreambooth"
RAP_BO = DATA.parent / "rap" / "bo_train"
#: Never enrolled: their photos measure false claims (each has an enrolled look-alike).
HELD_OUT = ("dog5", "grey_sloth_plushie", "backpack_dog", "robot_toy")
LOOKALIKES = {"dogs": ("dog", "dog2", "dog3"), "plush": ("bear_plushie", "duck_toy", "monster_toy")}


def subject_classes(data: Path, subjects: Sequence[str]) -> dict[str, str]:
    """Each subject's class: from ``classes.txt`` when present, else its name without
    trailing digits (``dog2`` -> ``dog``)."""
    classes = {s: s.rstrip("0123456789_") or s for s in subjects}
    listing = data / "classes.txt"
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8").splitlines():
            name, _, kind = line.partition(",")
            if name.strip() in classes and kind.strip():
                classes[name.strip()] = kind.strip()
    return classes


def groups(
    data: Path,
    subjects: Sequence[str],
    held_out: Sequence[str] | None = None,
    lookalikes: dict[str, tuple[str, ...]] | None = None,
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The never-enrolled subjects and the look-alike groups for ``subjects``.

    The dev set's own choices when all their subjects are present; otherwise derived from
    the subjects' classes (:func:`subject_classes`): every class with several subjects is
    a look-alike group, and its last subject is held out (it has enrolled look-alikes)."""
    present = set(subjects)
    by_class: dict[str, list[str]] = defaultdict(list)
    for subject, kind in sorted(subject_classes(data, subjects).items()):
        by_class[kind].append(subject)
    crowded = {kind: tuple(members) for kind, members in by_class.items() if len(members) > 1}
    if held_out is None:
        held_out = (
            HELD_OUT
            if present.issuperset(HELD_OUT)
            else tuple(members[-1] for members in crowded.values())
        )
    unknown = sorted(set(held_out) - present)
    if unknown:
        raise SystemExit(f"--held-out: no photos of {unknown} under {data}")
    if lookalikes is None:
        dev = all(present.issuperset(m) for m in LOOKALIKES.values())
        lookalikes = dict(LOOKALIKES) if dev else crowded
    return tuple(held_out), lookalikes


def run(
    data: Path,
    shots: int,
    cropper: str,
    held_out: Sequence[str] | None = None,
    lookalikes: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    subjects = sorted(p.name for p in data.iterdir() if p.is_dir())
    photos = {s: sorted((data / s).glob("*.jpg")) for s in subjects}
    held_out, lookalikes = groups(data, subjects, held_out, lookalikes)
    workdir = Path(tempfile.mkdtemp(prefix="mmrag-personal-"))
    config = load_pipeline("default").model_dump(mode="json")
    config["memory"]["cropper"] = {"type": cropper}
    from mmrag.config import PipelineConfig

    rag = RAG.open(workdir / "store", pipeline=PipelineConfig.from_dict(config))
    memories = rag.memories("tester")
    enrolled = [s for s in subjects if s not in held_out]
    for subject in enrolled:
        memories.add(subject, photos=photos[subject][:shots], category=subject)
    known, unknown = [], []
    claims: dict[bool, list[bool]] = {True: [], False: []}
    for subject in subjects:
        queries = photos[subject][shots:] if subject in enrolled else photos[subject]
        for photo in queries:
            found = memories.recognise(photo, limit=1)
            best = found[0] if found else None
            row = (subject, best.memory.key if best else None, best.similarity if best else -1.0)
            (known if subject in enrolled else unknown).append(row)
            claims[subject in enrolled].append(bool(best and best.claimed))
    memory = rag.config.memory
    result: dict[str, Any] = {
        "shots": shots,
        "cropper": cropper,
        "enrolled_subjects": len(enrolled),
        "queries_known": len(known),
        "queries_unknown": len(unknown),
        "recognition": memory.recognition,
        # What the pipeline claims (its own rule) ...
        **_claimed(known, unknown, claims),
        # ... and what a fixed threshold at recognition_threshold would have claimed.
        "fixed": {"threshold": memory.recognition_threshold}
        | _metrics(known, unknown, memory.recognition_threshold),
        "held_out_subjects": list(held_out),
        "lookalike_top1": {
            group: _share([float(b == s) for s, b, _ in known if s in members])
            for group, members in lookalikes.items()
        },
        "sweep": [
            {"threshold": t, **_metrics(known, unknown, t)}
            for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
        ],
    }
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _claimed(
    known: list[tuple[str, str | None, float]],
    unknown: list[tuple[str, str | None, float]],
    claims: dict[bool, list[bool]],
) -> dict[str, float | None]:
    pairs = list(zip([b == s for s, b, _ in known], claims[True], strict=True))
    return {
        "top1": _share([float(r) for r, _ in pairs]),
        "claimed_correct": _share([float(r and c) for r, c in pairs]),
        "claimed_wrong": _share([float(not r and c) for r, c in pairs]),
        "false_claim": _share([float(c) for c in claims[False]]),
    }


def lookalikes(data: Path, reference: Path, shots: int, cropper: str) -> dict[str, Any] | None:
    """One concept photographed many times (RAP's dog ``bo``) against never-enrolled
    subjects of its class (DreamBooth's dogs), the user holding one photo of every other
    subject: is bo claimed for bo's held-back photos (5 onwards), and never for another dog?
    """
    own = sorted(p for p in reference.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    subjects = sorted(p.name for p in data.iterdir() if p.is_dir())
    dogs = [s for s, kind in subject_classes(data, subjects).items() if kind == "dog"]
    if len(own) <= max(shots, 5) or not dogs:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="mmrag-lookalike-"))
    config = load_pipeline("default").model_dump(mode="json")
    config["memory"]["cropper"] = {"type": cropper}
    from mmrag.config import PipelineConfig

    rag = RAG.open(workdir / "store", pipeline=PipelineConfig.from_dict(config))
    memories = rag.memories("tester")
    for subject in subjects:
        if subject not in dogs:
            memories.add(subject, photos=sorted((data / subject).glob("*.jpg"))[:1])
    memories.add("bo", photos=own[:shots], category="dog")
    threshold = rag.config.memory.recognition_threshold
    outcomes: dict[bool, list[tuple[bool, bool]]] = {True: [], False: []}
    queries = [(p, True) for p in own[5:]]
    queries += [(p, False) for d in dogs for p in sorted((data / d).glob("*.jpg"))]
    for photo, is_bo in queries:
        found = memories.recognise(photo, limit=1)
        top = found[0] if found and found[0].memory.key == "bo" else None
        outcomes[is_bo].append(
            (bool(top and top.claimed), bool(top and top.similarity >= threshold))
        )
    shutil.rmtree(workdir, ignore_errors=True)

    def rates(i: int) -> dict[str, float | None]:
        tpr = _share([float(o[i]) for o in outcomes[True]])
        fpr = _share([float(o[i]) for o in outcomes[False]])
        balanced = None if tpr is None or fpr is None else round((tpr + 1 - fpr) / 2, 3)
        return {"claimed_bo": tpr, "other_dogs_claimed": fpr, "balanced_accuracy": balanced}

    return {
        "shots": shots,
        "cropper": cropper,
        "bo_queries": len(outcomes[True]),
        "other_dog_queries": len(outcomes[False]),
        **rates(0),
        "fixed": {"threshold": threshold} | rates(1),
    }


def _share(values: Sequence[float]) -> float | None:
    """The mean of 0/1 outcomes, or None when there is nothing to measure (a folder
    without photos for some group must not end the run)."""
    return round(statistics.fmean(values), 3) if values else None


def _metrics(
    known: list[tuple[str, str | None, float]],
    unknown: list[tuple[str, str | None, float]],
    t: float,
) -> dict[str, float | None]:
    return {
        "top1": _share([float(b == s) for s, b, _ in known]),
        "claimed_correct": _share([float(b == s and sim >= t) for s, b, sim in known]),
        "claimed_wrong": _share([float(b != s and sim >= t) for s, b, sim in known]),
        "false_claim": _share([float(sim >= t) for _, _, sim in unknown]),
    }


def _lookalike_option(values: Sequence[str] | None) -> dict[str, tuple[str, ...]] | None:
    if not values:
        return None
    out = {}
    for value in values:
        name, _, members = value.partition("=")
        if not members:
            raise SystemExit(f"--lookalikes {value!r}: expected GROUP=A,B,C")
        out[name] = tuple(m.strip() for m in members.split(",") if m.strip())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cropper", action="append", help="whole and/or multi-crop (default both)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=RAP_BO,
        help="photos of one look-alike concept (default: RAP's bo_train; skipped if absent)",
    )
    parser.add_argument(
        "--held-out", nargs="+", default=None, help="subjects never enrolled (default: derived)"
    )
    parser.add_argument(
        "--lookalikes", nargs="+", default=None, help="GROUP=A,B,C ... (default: derived)"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    croppers = args.cropper or ["whole", "multi-crop"]
    results = [
        run(args.data, shots, cropper, args.held_out, _lookalike_option(args.lookalikes))
        for cropper in croppers
        for shots in (1, 2)
    ]
    similar = []
    if args.reference.is_dir():
        similar = [lookalikes(args.data, args.reference, n, c) for c in croppers for n in (1, 2, 5)]
    print(json.dumps({"benchmark": "personal", "runs": results, "lookalike_runs": similar}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
