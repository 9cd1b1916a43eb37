"""Wrong implementations, one module per exercise, each function named ``<mistake id>`` and standing in
for the learner function the catalogue entry names. They live with the tests and never ship: the
grader stores only their outputs on its fixed inputs, to name a learner's mistake."""
