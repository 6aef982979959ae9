"""Chain format and answer parsing: hand-picked nasty cases and properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rdmldg.chains import (
    SECTIONS,
    Chain,
    check_chain,
    format_chain,
    parse_answer,
    parse_chain,
    q_choice_list,
    q_cls,
    q_reason,
    reason_kind,
)

GOOD = format_chain(summary="plan", caption="a red thing", reasoning="round, no hole",
                    reflection="consistent", conclusion="ball")

body = st.text(alphabet=string.ascii_letters + string.digits + " .,;'-\n", min_size=1, max_size=40).filter(
    lambda s: s.strip())


@settings(max_examples=80, deadline=None)
@given(st.lists(body, min_size=5, max_size=5), st.sampled_from(["", " ", "\n", "\n\n  "]),
       st.booleans(), st.text(alphabet="xyz ", max_size=10))
def test_round_trip_with_whitespace_and_case(parts, sep, lower, preamble):
    text = preamble + sep.join(
        f"<{(s.lower() if lower else s)}>{p}</{(s.lower() if lower else s)}>"
        for s, p in zip(SECTIONS, parts, strict=True))
    chain = parse_chain(text)
    assert chain is not None
    assert [getattr(chain, s.lower()) for s in SECTIONS] == [p.strip() for p in parts]
    assert parse_chain(chain.text()) == chain


def test_tags_tolerate_inner_spaces():
    assert parse_chain(GOOD.replace("<CAPTION>", "< caption >").replace("</CAPTION>", "</ CAPTION >")) is not None


@pytest.mark.parametrize("text, kind", [
    (GOOD.replace("<CAPTION>a red thing</CAPTION>", ""), "missing section"),
    (GOOD.replace("<REFLECTION>", "<CAPTION>again</CAPTION><REFLECTION>"), "duplicated section"),
    (GOOD.replace("<SUMMARY>plan</SUMMARY>", "").replace("<REASONING>", "<SUMMARY>plan</SUMMARY><REASONING>"),
     "sections out of order"),
    (GOOD.replace("</CONCLUSION>", ""), "truncated"),
    (GOOD[: GOOD.index("<REFLECTION>") + 20], "truncated"),
    (GOOD.replace("</CAPTION>", ""), "section not closed"),
    (GOOD.replace("<REASONING>round, no hole</REASONING>", "<REASONING>  </REASONING>"), "empty section"),
    (GOOD.replace("</SUMMARY>", "</SUMMARY></SUMMARY>"), "stray closing tag"),
    ("", "empty response"),
    ("   ", "empty response"),
    ("The answer is ball.", "missing section"),
])
def test_rejections_say_why(text, kind):
    chain, why = check_chain(text)
    assert chain is None and reason_kind(why) == kind, why


@pytest.mark.parametrize("after", [
    "ball</CONCLUSION>ball</CONCLUSION>",  # what the miniature's MTCT writes after its answer
    "\n<CONCLUSION>cross</CONCLUSION>",
    "<CAPTION>again</CAPTION>",
    "\n<CONCLUSION>cr",  # and then runs out of tokens
])
def test_the_chain_ends_where_its_conclusion_closes(after):
    chain, why = check_chain(GOOD + after)
    assert why is None and chain == parse_chain(GOOD)
    assert parse_answer(GOOD + after, ["ball", "cross"]) == "ball"


def test_nested_section_is_rejected():
    nested = GOOD.replace("round, no hole", "round <CAPTION>x</CAPTION> no hole")
    assert parse_chain(nested) is None


CLASSES = ["pen", "pencil", "car", "carrot", "alarm_clock", "clock", "dog", "Real_World", "bus"]


@pytest.mark.parametrize("text, expected", [
    ("pencil", "pencil"), ("Pen", "pen"), ("a pen.", "pen"), ("CARROT", "carrot"), ("car", "car"),
    ("Alarm Clock", "alarm_clock"), ("alarm_clock", "alarm_clock"), ("ALARM-CLOCK", "alarm_clock"),
    ("the clock", "clock"), ("real   world", "Real_World"), ("two buses", "bus"), ("dogs", "dog"),
    ("pen or pencil", None), ("a dog and a car", None), ("nothing of the kind", None), ("", None),
    ("carpet", None), ("hotdog", None), ("dog-like", "dog"),
    ("<CONCLUSION>pencil</CONCLUSION>", "pencil"),
    ("<REASONING>not a pen, not a car</REASONING><CONCLUSION> Pencil </CONCLUSION>", "pencil"),
    ("Maybe a car... Answer Choice: carrot", "carrot"),
    ("Answer Choice: dog\nAnswer Choice: bus", "bus"),
    ("<CONCLUSION>dog", "dog"),  # truncated after the answer: still read
])
def test_parse_answer_cases(text, expected):
    assert parse_answer(text, CLASSES) == expected


names = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
    lambda s: s.strip("_") and "__" not in s)


@settings(max_examples=120, deadline=None)
@given(st.lists(names, min_size=2, max_size=8, unique_by=lambda s: s.replace("_", " ").strip()), st.data())
def test_a_named_class_always_parses_back(classes, data):
    target = data.draw(st.sampled_from(classes))
    normal = {c.replace("_", " ").strip() for c in classes}
    assume(len(normal) == len(classes))
    for template in ("Answer Choice: {}", "<CONCLUSION>{}</CONCLUSION>", "{}"):
        assert parse_answer(template.format(target.replace("_", " ")), classes) == target


def test_prompts_name_options_never_a_label():
    classes = ["ball", "real_world"]
    assert q_cls(classes).endswith("options: ball, real world")
    assert q_reason(classes).startswith(q_cls(classes))
    assert all(f"<{s}>" in q_reason(classes) for s in SECTIONS)
    assert q_choice_list(classes).startswith("What is in this image? Choice list: [ball, real world]")
    assert "Answer Choice:" in q_choice_list(classes)


def test_format_chain_is_canonical():
    chain = Chain("s", "c", "r", "f", "x")
    assert chain.text() == "<SUMMARY>s</SUMMARY>\n<CAPTION>c</CAPTION>\n<REASONING>r</REASONING>\n" \
                           "<REFLECTION>f</REFLECTION>\n<CONCLUSION>x</CONCLUSION>"
    with pytest.raises(ValueError):
        format_chain(verdict="x")
