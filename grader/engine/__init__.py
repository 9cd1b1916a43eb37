"""The grading engine: learner code runs in one process, the verdict is reached in another.

    supervisor  (trusted)   drives grading: starts the executor, sends it one check at a time with a time
                            limit, survives its hangs and deaths, and asks the judge for each verdict
    judge       (trusted)   holds the expected observations, the catalogue's, the tolerances and the points;
                            compares and names mistakes; numpy only, never imports or runs learner code
    sandbox     (trusted)   the bubblewrap command line the executor runs under
    cgroups     (trusted)   a control group capping the whole sandbox's memory and processes, where one can be made
    executor    (untrusted) a warm process inside the sandbox: forks one process per submission that loads
                            the learner's file and runs the checks' code, returning observations as plain data
    programs    (trusted)   runs one untrusted *model-written* program (the PAL exercise) in a bubblewrap sandbox of
                            its own, nested in the executor's when called from there; refuses where none can run
    wire                    how observations travel: typed arrays in JSON, decoded with validation
    service     (trusted)   a process of its own holding one warm executor and the judge, for a notebook kernel's
                            ``check(...)`` (``grader.live``): the kernel sends code, never runs the judge
    local                   the same observe-then-judge path in one process, for *trusted* code only (the
                            reference and the catalogue, in the project's tests and `rlhf-course refs`)

Imports go one way: supervisor -> judge, sandbox, cgroups; judge -> wire; executor -> grader.checking,
grader.learner, wire; local -> executor, judge; service -> supervisor;
programs -> sandbox (and executor's kill_descendants where bwrap cannot nest). Only the service imports the supervisor.
"""
