"""The claims check on the three answers a new user saw accepted, and the old overlap check
that accepted them (each case fails on ``support_check: overlap``)."""

from __future__ import annotations

import pytest

from mmrag.config import PipelineConfig
from mmrag.generate import Answerer, PromptTemplates
from mmrag.generate.answer import drop_unfinished
from mmrag.generate.citations import is_supported
from mmrag.generate.passages import split_units
from mmrag.generate.prompt import Prompt
from mmrag.generate.support import check_claims, key_claims
from mmrag.models.mllm import Generation, GenerationOptions
from mmrag.schema import Node, NodeKind, ScoredNode

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
gnats:x:41:41:Gnats Bug-Reporting System (admin):/var/lib/gnats:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
NOBODY = "What is the user ID of the nobody user?"

TAR_CREATE = """\
       -A, --catenate, --concatenate
              Append archives to the end of another archive.
       -c, --create
              Create a new archive.  Arguments supply the names of the files to be archived.
       -d, --diff, --compare
              Find differences between archive and file system.
"""
TAR_EXTRACT = """\
       -t, --list
              List the contents of an archive.  Arguments are optional.
       -x, --extract, --get
              Extract files from an archive.  Arguments are optional.
"""
TAR = "Which tar option extracts files from an archive?"

GREP = """\
       -r, --recursive
              Read all files under each directory, recursively, following symbolic links
              only if they are on the command line.
       -i, --ignore-case
              Ignore case distinctions in patterns and input data.
"""
GREP_Q = "How do I search all files in a directory recursively with grep?"
INVENTED = (
    "To search recursively, run grep with the --deep-scan option, which enables the deep "
    "scanning engine of grep. This engine walks nested archives, compressed tarballs and "
    "network shares, and prints a confidence score beside each match. You can combine it "
    "with --fuzzy-level 3 to tolerate typing mistakes, and with --cache to remember the"
)


def test_a_number_from_another_row_is_not_support() -> None:
    wrong = "The user ID of the nobody user is 41."
    assert is_supported(wrong, NOBODY, [PASSWD])  # what the overlap check let through
    verdict = check_claims(wrong, NOBODY, [PASSWD])
    assert not verdict.supported
    assert "41" in verdict.reason
    assert check_claims("The nobody user has user ID 65534 [1].", NOBODY, [PASSWD]).supported


def test_the_right_option_is_accepted_and_an_uncited_one_rejected() -> None:
    seen = [TAR_CREATE, TAR_EXTRACT]  # the right option was source #2
    assert check_claims("Use -x (--extract) [2].", TAR, [TAR_EXTRACT], context=seen).supported
    assert not check_claims(
        "Use the --get-all option [2].", TAR, [TAR_EXTRACT], context=seen
    ).supported


@pytest.mark.xfail(
    strict=True,
    reason="known limit: the -c row shares 'archive' and 'files' with the question, 0.55 of "
    "the best row's term weight, above the relative anchor of 0.5; a wrong row that shares "
    "most of the question's words is not told from the right one",
)
def test_the_wrong_option_is_rejected() -> None:
    wrong = "To extract files from an archive, use the -c (--create) option."
    assert is_supported(wrong, TAR, [TAR_CREATE])  # the overlap check accepts it too
    seen = [TAR_CREATE, TAR_EXTRACT]
    assert not check_claims(wrong, TAR, [TAR_CREATE], context=seen).supported


def test_invented_text_cut_mid_sentence_is_rejected() -> None:
    assert is_supported(INVENTED, GREP_Q, [GREP])
    verdict = check_claims(drop_unfinished(INVENTED), GREP_Q, [GREP])
    assert not verdict.supported
    assert check_claims("Use grep -r (--recursive) [1].", GREP_Q, [GREP]).supported


def test_an_answer_copied_from_a_sentence_is_supported() -> None:
    context = "The Kaldfonna glacier has retreated 340 metres since 1990, the survey found."
    q = "How many metres has the Kaldfonna glacier retreated?"
    assert check_claims("It has retreated 340 metres [1].", q, [context]).supported
    assert not check_claims("It has retreated 430 metres [1].", q, [context]).supported


def test_names_must_sit_beside_the_question() -> None:
    context = "The CEO is Ingrid Solberg-Amari.\nThe chief of staff is Tomas Berg, based in Oslo."
    q = "Who is the CEO of Northwind Labs?"
    assert check_claims("The CEO is Ingrid Solberg-Amari [1].", q, [context]).supported
    assert not check_claims("The CEO is Tomas Berg [1].", q, [context]).supported


def test_an_acronym_in_the_question_finds_the_words_it_stands_for() -> None:
    context = (
        "Northwind Labs - Annual Report 2025\nOur chief executive officer is Ingrid Solberg-Amari."
    )
    q = "Who is the CEO of Northwind Labs?"
    assert check_claims(
        "The CEO of Northwind Labs is Ingrid Solberg-Amari.", q, [context]
    ).supported


def test_key_claims_skip_what_the_question_says_and_sentence_starts() -> None:
    claims = key_claims(
        "The revenue in 2023 was 14,700 EUR, says Ingrid [1].", "What was revenue in 2023?"
    )
    assert claims == ["14700", "EUR", "Ingrid"]


def test_digits_inside_names_are_not_figures() -> None:
    q = "What was the Nordics revenue in Q3?"
    assert key_claims("Nordics revenue in Q3 was 14.7 million [1].", q) == ["14.7"]
    assert check_claims("It was 14.7 [1].", q, ["Region Q3 Q4\nNordics 14.7 15.2"]).supported


def test_man_page_options_label_their_description() -> None:
    units = [u.text for u in split_units(TAR_EXTRACT)]
    assert units[1].startswith("-x, --extract, --get Extract files")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Done. It is 41.", "Done. It is 41."),
        ("First sentence. And then it went on and", "First sentence."),
        ("never finished a sentence", ""),
    ],
)
def test_drop_unfinished(text: str, expected: str) -> None:
    assert drop_unfinished(text) == expected


def _item(text: str) -> ScoredNode:
    return ScoredNode(
        Node(id=text[:6], kind=NodeKind.TEXT, doc_id="d", source="/etc/passwd", text=text), 0.9
    )


def test_answerer_rejects_with_a_reason_and_keeps_the_draft() -> None:
    answerer = Answerer(None, PromptTemplates(), GenerationOptions(), support_check="claims")  # type: ignore[arg-type]
    prompt = Prompt(messages=[], context=[_item(PASSWD)])
    draft = Generation(text="The user ID of the nobody user is 41 [1].", model="m")
    answer = answerer._finish(NOBODY, prompt, draft, 0.1)
    assert not answer.answerable and answer.text == PromptTemplates().refusal
    assert answer.raw_text == draft.text and "41" in answer.rejection
    assert answer.citations == []
    cut = Generation(text=INVENTED, model="m", finish_reason="length")
    prompt = Prompt(messages=[], context=[_item(GREP)])
    assert not answerer._finish(GREP_Q, prompt, cut, 0.1).answerable


def test_old_require_support_still_loads() -> None:
    on = PipelineConfig.from_dict({"generation": {"require_support": True}})
    off = PipelineConfig.from_dict({"generation": {"require_support": False}})
    assert on.generation.support_check == "overlap"
    assert off.generation.support_check == "off"
    both = PipelineConfig.from_dict(
        {"generation": {"require_support": True, "support_check": "claims"}}
    )
    assert both.generation.support_check == "claims"
    assert "require_support" not in on.model_dump()["generation"]
