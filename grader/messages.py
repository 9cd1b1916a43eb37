"""What a learner is told when their code never returns or takes the process down; shared by the CLI's
supervisor and the in-notebook grader (no torch import here)."""

TIMEOUT_HINT = "an infinite loop, or a loop far longer than needed?"
DIED_HINT = "your code ended the interpreter: os._exit/sys.exit, a crash, or running out of memory"


def timeout_message(seconds: float) -> str:
    return f"did not finish within {seconds:.3g} s"


def died_message(exit_code: int | None) -> str:
    return f"the grading process died (exit code {exit_code}) while running it"
