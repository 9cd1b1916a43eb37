"""The RLAIF grader against the reference, the stub, the catalogue of mistakes and alternatives; and the judge's
pairs through the course's preference loader."""

import pytest
import torch

from grader.preferences import load_preferences, save_preferences
from tests.grader_meta import make_meta_tests
from tests.reference import solution

(test_reference_passes_every_check, test_stub_is_not_implemented, test_mistake_fails_with_its_hint,
 test_alternative_implementation_passes) = make_meta_tests("rlaif")


def test_the_judges_pairs_load_with_the_course_loader(tmp_path):
    """What ai_preference_pairs makes is TRL's format: save_preferences writes it, load_preferences reads it back
    (soft label included), and a malformed record is refused with the line it is on."""
    pairs = solution("rlaif")["ai_preference_pairs"]
    records = pairs(["p1", "p2", "p3"], ["a1", "a2", "a3"], ["b1", "b2", "b3"], torch.tensor([0.875, 0.5, 0.25]))
    assert records == [{"prompt": "p1", "chosen": "a1", "rejected": "b1", "p_chosen": 0.875},
                       {"prompt": "p3", "chosen": "b3", "rejected": "a3", "p_chosen": 0.75}]
    assert load_preferences(save_preferences(records, tmp_path / "pairs.jsonl")) == records
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n{"prompt": "p", "chosen": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: 'chosen' must be a string"):
        load_preferences(tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match="'rejected' must be a string"):
        save_preferences([{"prompt": "p", "chosen": "c"}], tmp_path / "unwritten.jsonl")
