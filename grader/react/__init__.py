"""A toy ReAct agent (lessons/reasoning.md): a loop that parses a model's Thought / Action / Final Answer,
runs a safe calculator or the course's retriever, and appends their results as observations.

    python -m grader.react                   # replay every stored trajectory and print its trace
    python -m grader.react injection         # one of them (see --list)
    python -m grader.react --model-dir DIR   # a causal LM from a local folder instead (nothing is downloaded)

Modules: ``calculator`` (arithmetic through ``ast``, never ``eval``), ``steps`` (parsing a step, writing an
observation), ``tools`` (the calculator and the search tool), ``loop`` (the loop, the replayed and the
local models). Torch is imported only by the search tool and the local model.
"""

from grader.react.calculator import CalculatorError, calculate
from grader.react.loop import LocalLM, ReplayModel, Trace, load_trajectories, prompt, run_agent
from grader.react.steps import Step, observation_line, parse_step
from grader.react.tools import CourseSearch, Tool, ToolError, default_tools

__all__ = ["CalculatorError", "CourseSearch", "LocalLM", "ReplayModel", "Step", "Tool", "ToolError", "Trace",
           "calculate", "default_tools", "load_trajectories", "observation_line", "parse_step", "prompt",
           "run_agent"]
