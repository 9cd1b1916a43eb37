"""The SFT grader against the reference, the stub, the catalogue of mistakes and alternatives."""

from tests.grader_meta import make_meta_tests

(test_reference_passes_every_check, test_stub_is_not_implemented, test_mistake_fails_with_its_hint,
 test_alternative_implementation_passes) = make_meta_tests("sft")
