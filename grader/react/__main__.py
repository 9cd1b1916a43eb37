"""``python -m grader.react``: run the toy agent on the stored trajectories (or a local LM) and print each trace."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from grader.react.loop import MAX_STEPS, LocalLM, ReplayModel, Trace, load_trajectories, run_agent
from grader.react.tools import default_tools

WIDTH = 110


def render(trace: Trace) -> str:
    """The transcript, wrapped, with the text the loop cut from a step (after ``Observation:``) marked."""
    lines = [f"Question: {trace.question}"]
    for number, (step, observation) in enumerate(zip(trace.steps, trace.observations), 1):
        lines.append(f"--- step {number}")
        lines.append(step.text or "(empty output)")
        if step.discarded:
            lines.append(f"[cut by the loop, never shown to the model: {' '.join(step.discarded.split())}]")
        if observation is not None:
            lines.append(observation)
    steps, calls = len(trace.steps), trace.tool_calls
    ending = f"{trace.stopped} after {steps} step{'s' * (steps != 1)}, {calls} tool call{'s' * (calls != 1)}"
    lines.append(f"=== {ending}" + ("" if trace.answer else ", no answer")
                 + f"; the model read {trace.prompt_chars} characters of prompt in all")
    wrapped = [textwrap.fill(line, WIDTH, subsequent_indent="    ", break_on_hyphens=False)
               for text in lines for line in text.splitlines()]
    return "\n".join(wrapped)


def _local_lm(folder: str | None, tiny: bool):
    """The tiny GPT-2, or any causal LM saved in ``folder`` (read with local_files_only); False after an error."""
    if tiny:
        from grader.tiny_models import load_gpt2

        model, tokenizer, _ = load_gpt2("tiny")
        return LocalLM(model, tokenizer)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not Path(folder).is_dir():
        print(f"--model-dir {folder}: no such folder (the model must be on this disk; nothing is downloaded)",
              file=sys.stderr)
        return False
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        print(f"cannot load a causal LM from {folder}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return False
    return LocalLM(model, tokenizer)


def main(argv: list[str] | None = None) -> int:
    stored = load_trajectories()
    p = argparse.ArgumentParser(prog="python -m grader.react", description="Run the toy ReAct agent and print its "
                                "traces: stored model outputs replayed through the real loop and tools.")
    p.add_argument("ids", nargs="*", help=f"stored trajectories to replay (default: all): {', '.join(stored)}")
    p.add_argument("--max-steps", type=int, default=MAX_STEPS, help="model calls per question (default %(default)s)")
    p.add_argument("--model-dir", help="a causal LM's folder on this disk, used instead of the stored outputs "
                   "(nothing is downloaded)")
    p.add_argument("--tiny", action="store_true", help="the course's untrained tiny GPT-2 as the model: it writes "
                   "noise, which the loop turns into error observations until the step limit")
    p.add_argument("--question", help="with --model-dir or --tiny: ask this instead of the stored questions")
    args = p.parse_args(argv)
    unknown = [i for i in args.ids if i not in stored]
    if unknown:
        p.error(f"unknown trajectory {unknown[0]!r}; choose from {', '.join(stored)}")
    if args.max_steps < 1:
        p.error("--max-steps must be at least 1")
    chosen = {i: stored[i] for i in args.ids or stored}
    tools = default_tools()
    if args.question and not (args.model_dir or args.tiny):
        p.error("--question needs a model (--model-dir or --tiny): the stored outputs answer their own questions")
    lm = _local_lm(args.model_dir, args.tiny) if args.model_dir or args.tiny else None
    if lm is False:
        return 1
    questions = [("question", args.question)] if args.question else [(i, t["question"]) for i, t in chosen.items()]
    for n, (name, question) in enumerate(questions):
        model = lm or ReplayModel(chosen[name]["outputs"])
        try:
            trace = run_agent(question, model, tools, max_steps=args.max_steps)
        except RuntimeError as exc:  # a replay that runs out of stored steps, or no course clone for the search tool
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        print(("\n" if n else "") + f"##### {name}\n" + render(trace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
