"""The toy ReAct agent's five stored trajectories, step by step, as the loop ran them (grader/react/).

Each row is one question; each box one model call, labelled with what the step asked for and coloured by what came
back: a tool's result, an error observation the model can recover from (malformed action, unknown tool, repeated
action), or the final answer. The search tool is the rag exercise's BM25 over the course's collection, so the
observations are real. Prints, per trajectory, how it ended.

Run:  python lessons/figures/reasoning_agent_trace.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from grader.react import ReplayModel, default_tools, load_trajectories, run_agent

COLOURS = {"result": "#cfe2f3", "error": "#f9cb9c", "answer": "#b6d7a8"}


def label(step, observation) -> tuple[str, str]:
    """(text in the box, colour key) for one step."""
    if step.answer is not None and step.error is None:
        return "Final\nAnswer", "answer"
    if step.error is not None:
        return "malformed\naction", "error"
    if "unknown tool" in observation:
        return f"unknown tool\n{step.tool}", "error"
    if "already ran" in observation:
        return "repeated\naction", "error"
    argument = step.argument if len(step.argument) <= 18 else step.argument[:16] + "..."
    notes = [f"{step.tool}[", f"{argument}]"]
    if step.discarded:
        notes.append("(invented Obs. cut)")
    if "flagged by the injection guard" in observation:
        notes.append("(injection flagged)")
    return "\n".join(notes), "error" if observation.startswith("Observation: error") else "result"


tools = default_tools()
traces = {}
for name, t in load_trajectories().items():
    traces[name] = run_agent(t["question"], ReplayModel(t["outputs"]), tools)
    trace = traces[name]
    print(f"{name}: {trace.stopped} after {len(trace.steps)} steps, {trace.tool_calls} tool calls; "
          f"answer {trace.answer!r}")

fig, ax = plt.subplots(figsize=(11, 0.95 * len(traces) + 1.0))
width, height = 0.9, 0.8
for row, (name, trace) in enumerate(traces.items()):
    y = len(traces) - 1 - row
    for col, (step, observation) in enumerate(zip(trace.steps, trace.observations)):
        text, kind = label(step, observation or "")
        ax.add_patch(FancyBboxPatch((col + 0.05, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                    fc=COLOURS[kind], ec="#444444", lw=0.8))
        ax.text(col + 0.5, y, text, ha="center", va="center", fontsize=8, linespacing=1.15)
    if trace.stopped == "step limit":
        end = len(trace.steps)
        ax.text(end + 0.1, y, "step limit:\nno answer", ha="left", va="center", fontsize=8.5, color="#a61c00")
ax.set_yticks(range(len(traces)), list(reversed(traces)))
ax.set_xticks([c + 0.5 for c in range(6)], [f"step {c + 1}" for c in range(6)])
ax.set_xlim(0, 7.1)
ax.set_ylim(-0.6, len(traces) - 0.4)
ax.tick_params(length=0)
for side in ("top", "right", "bottom", "left"):
    ax.spines[side].set_visible(False)
handles = [plt.Rectangle((0, 0), 1, 1, fc=c, ec="#444444", lw=0.8) for c in COLOURS.values()]
ax.legend(handles, ["tool result", "error observation (the model recovers)", "final answer"], loc="upper center",
          bbox_to_anchor=(0.45, -0.06), ncol=3, frameon=False, fontsize=9)
ax.set_title("The toy agent's stored trajectories through the real loop and tools")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
