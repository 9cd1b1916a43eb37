"""The course's own tooling, for maintainers and instructors (learners never need it):

    stubs               exercises/<id>.py from solutions/<id>.py (nbgrader's stripping, plus the learner's check cells)
    refs                grader/reference/<id>.npz: the reference's observations, and each catalogued mistake's
    mutation            mutation testing of a grader: mutants of the solution regions, graded
    figures             re-runs lessons/figures/*.py and says which PNG changed
    mathjax             the offline MathJax copied into the website and beside nbgrader feedback
    nbgrader_course     an nbgrader course made from solutions/ (and the quiz), with secret references
    nbgrader_autograde  nbgrader's autograde step, judged by the engine with the student's code in the sandbox
    nbgrader_feedback   feedback pages whose math renders offline
    quiz_notebook       the quiz as an nbgrader assignment

Imports go one way: this package uses the engine, the checks and the exercise registry; nothing outside it
(bar the CLI's commands and the site's build hook) imports it.
"""
