"""One module per exercise, named by the exercise id: ``CHECKS`` (what is graded), ``MISTAKES`` (the
catalogue of realistic wrong implementations, as hints keyed by id) and ``OBSERVATIONS`` (how to name
each observed quantity in a failure message)."""
