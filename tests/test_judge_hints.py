"""The judge gives a hint only where the evidence supports it (grader/engine/judge.py), on a synthetic reference."""

import numpy as np

from grader.engine import judge
from grader.engine.wire import encode_all


def reference(mistakes: dict) -> judge.Reference:
    meta = {
        "checks": [{"name": "f", "functions": ["f"], "points": 1, "timeout_s": 1.0, "description": ""},
                   {"name": "loop", "functions": ["loop", "f"], "points": 1, "timeout_s": 1.0, "description": ""},
                   {"name": "outer", "functions": ["outer"], "calls": ["f"], "points": 1, "timeout_s": 1.0,
                    "description": ""}],
        "mistakes": {m: {"function": "f", "hint": f"the hint of {m}"} for m in mistakes},
        "observations": {"value": "the value", "grad": "the gradient"},
    }
    expected = {"value": np.array([1.0, 2.0, 3.0]), "grad": np.array([0.5, -0.5, 1.0])}
    return judge.Reference(meta, {"f": expected, "loop": {"out": np.array(1.0)}, "outer": {"out": np.array(1.0)}},
                           {"f": mistakes, "loop": {}, "outer": {}})


def verdict(ref, check="f", **observed):
    reply = {"observed": encode_all({k: np.asarray(v, dtype=np.float64) for k, v in observed.items()})}
    return judge.verdict("synthetic", check, reply, "cpu", ref)


GRAD = [0.5, -0.5, 1.0]


def test_a_scale_hint_needs_several_values_with_one_ratio():
    assert "factor, 2" in judge.generic_hint(np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0]))
    assert judge.generic_hint(np.array([-1.0, -2.0]), np.array([1.0, 2.0])) == "the sign is flipped"
    # one number: any two values have a ratio, which says nothing (a >= for a >, an MAE for an MSE)
    assert judge.generic_hint(np.array(0.75), np.array(0.5)) == judge.GENERIC_HINT
    assert judge.generic_hint(np.array([-0.5]), np.array([0.5])) == judge.GENERIC_HINT
    # inconsistent ratios, or a zero made nonzero, are no scale
    assert judge.generic_hint(np.array([2.0, 4.0, 7.0]), np.array([1.0, 2.0, 3.0])) == judge.GENERIC_HINT
    assert judge.generic_hint(np.array([2.0, 4.0, 1.0]), np.array([1.0, 2.0, 0.0])) == judge.GENERIC_HINT
    assert judge.generic_hint(np.array([np.nan, 4.0]), np.array([1.0, 2.0])) == judge.GENERIC_HINT


def test_a_catalogued_mistake_matches_exactly_and_in_variants_with_enough_evidence():
    slip = {"value": np.array([1.0, 2.5, 3.5]), "grad": np.array([0.5, -0.25, 0.75])}
    ref = reference({"slip": slip})
    assert verdict(ref, value=slip["value"], grad=slip["grad"]).mistake == "slip"
    # a variant: the same wrong values (two of them), the gradient right
    out = verdict(ref, value=slip["value"], grad=GRAD)
    assert out.mistake == "slip" and out.hint == "the hint of slip"
    # wrong somewhere the mistake is not: not that mistake, whatever else agrees
    out = verdict(ref, value=slip["value"], grad=[0.5, -0.25, 9.0])
    assert out.mistake is None and out.hint == judge.GENERIC_HINT


def test_one_coinciding_value_is_not_evidence():
    ref = reference({"slip": {"value": np.array([1.0, 2.0, 4.0]), "grad": np.array([0.5, -0.5, 2.0])}})
    out = verdict(ref, value=[1.0, 2.0, 4.0], grad=GRAD)  # agrees on one wrong value; the mistake also moves grad
    assert out.status == "fail" and out.mistake is None


def test_two_mistakes_matching_a_variant_equally_name_neither():
    a = {"value": np.array([1.0, 2.5, 3.5]), "grad": np.array([0.5, -0.25, 0.75])}
    b = {"value": np.array([1.0, 2.5, 3.5]), "grad": np.array([0.0, -0.25, 0.75])}
    out = verdict(reference({"a": a, "b": b}), value=a["value"], grad=GRAD)
    assert out.status == "fail" and out.mistake is None


def test_expected_and_got_show_where_they_differ():
    expected = np.arange(8.0).reshape(2, 4)
    got = expected.copy()
    got[1, 2] += 0.5  # in a "padded row", after six identical values
    e, g = judge.show_pair(expected, got, 1e-4, 1e-5)
    assert "[1, 2] 6" in e and "[1, 2] 6.5" in g and "[0, 0]" not in e


def test_a_check_that_calls_a_failing_function_says_fix_it_first():
    ref, failed = reference({}), {}
    first = judge.explain_by_earlier(verdict(ref, value=[9.0, 2.0, 3.0], grad=GRAD), ref, failed)
    assert first.status == "fail" and "fix" not in first.hint
    later = judge.Outcome("synthetic", "loop", "fail", hint="compute ref_logp with the frozen reference",
                          mistake="elsewhere")
    judge.explain_by_earlier(later, ref, failed)
    assert later.hint.startswith("fix `f` first") and later.mistake is None
    outer = judge.explain_by_earlier(judge.Outcome("synthetic", "outer", "timeout", hint="a loop?"), ref, failed)
    assert outer.hint.startswith("fix `f` first")
    # not when the earlier function passed, and never for a stub (its message already names what is missing)
    ref2, failed2 = reference({}), {}
    judge.explain_by_earlier(verdict(ref2, value=[1.0, 2.0, 3.0], grad=GRAD), ref2, failed2)
    alone = judge.explain_by_earlier(judge.Outcome("synthetic", "loop", "fail", hint="own"), ref2, failed2)
    assert alone.hint == "own"
    stub = judge.explain_by_earlier(judge.Outcome("synthetic", "loop", "not_implemented", hint="x"), ref, failed)
    assert stub.hint == "x"


def test_two_slips_at_once_are_named_together():
    a = {"value": np.array([1.0, 2.5, 3.5]), "grad": np.array(GRAD)}
    b = {"value": np.array([1.0, 2.0, 3.0]), "grad": np.array([0.5, -0.25, 0.75])}
    out = verdict(reference({"a": a, "b": b}), value=a["value"], grad=b["grad"])
    assert out.mistake == "a+b" and out.hint == "two slips: the hint of a; and the hint of b"
    # each alone is still itself
    assert verdict(reference({"a": a, "b": b}), value=a["value"], grad=GRAD).mistake == "a"


def test_a_mistake_of_another_shape_is_evidence_not_a_crash():
    slip = {"value": np.array([1.0, 2.0, 3.0, 4.0]), "grad": np.array(GRAD)}  # one value too many
    out = verdict(reference({"slip": slip}), value=slip["value"], grad=GRAD)
    assert out.mistake == "slip" and out.message == "mismatch in the value"


def test_string_observations_are_shown_as_text_from_their_first_difference():
    meta = {"checks": [{"name": "f", "functions": ["f"], "points": 1, "timeout_s": 1.0, "description": ""}],
            "mistakes": {}, "observations": {"program": "the program"}, "text": ["program"]}
    program = "x = 1\n" * 20 + "print(x)"
    ref = judge.Reference(meta, {"f": {"program": judge.encode_text(program)}}, {"f": {}})
    out = verdict(ref, program=judge.encode_text(program.replace("print(x)", "print(y)")))
    first = program.index("print(x)") + 6
    assert out.expected.startswith("…'") and "print(x)'" in out.expected and "print(y)'" in out.got
    assert f"character {first}" in out.hint
    assert verdict(ref, program=judge.encode_text(None)).got == "None"
    assert judge.decode_text(judge.encode_text("é" * 600)) == "é" * 512 + "…"  # cut at 1024 bytes, said so
    # not a string (a tampered executor): shown as numbers, never a crash
    bad = judge.encode_text(program)
    bad[3] = 300.0
    out = verdict(ref, program=bad)
    assert out.status == "fail" and out.expected.startswith("shape")


def test_a_check_with_no_formula_gives_its_own_words_for_an_unexplained_difference():
    ref = reference({})
    ref.meta["checks"][0]["generic_hint"] = "compare the padded rows with the rules"
    ref = judge.Reference(ref.meta, ref.expected, ref.mistakes)
    assert verdict(ref, value=[1.0, 2.0, 9.0], grad=GRAD).hint == "compare the padded rows with the rules"
    assert "factor, 2" in verdict(ref, value=[2.0, 4.0, 6.0], grad=GRAD).hint  # what the evidence shows comes first
    assert verdict(reference({}), value=[1.0, 2.0, 9.0], grad=GRAD).hint == judge.GENERIC_HINT
