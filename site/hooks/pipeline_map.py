"""The home page's pipeline map: SFT -> reward model -> PPO / DPO -> evaluation, and where the other lessons sit.

Made here, at build time, as Markdown inside HTML boxes (``md_in_html``): MkDocs checks and rewrites its
links like any other, and ``extra.css`` lays the boxes out, in a row of four stages on a desktop and one
column on a phone (``.pipeline-map``). No script, no image, nothing fetched. A box names its lesson by id;
a lesson not on the site yet (one being written) is shown unlinked.
"""

from __future__ import annotations

# Each stage: its main box, then the boxes that attach to it. A box is (title, [(label, lesson id or
# "lesson#anchor")], what it adds); with no title, its links are its title.
STAGES = [
    ((None, [("Supervised fine-tuning", "sft")], ("imitate demonstrations: the policy to start "
                                                  "from, and the reference")),
     []),
    ((None, [("Reward model", "reward_model")], "fit to human comparisons (Bradley–Terry)"),
     [(None, [("AI feedback: HHH, red teaming, Constitutional AI, RLAIF", "rlaif")],
       "an AI judge labels the comparisons, guided by principles")]),
    (("Policy optimisation", [("PPO", "ppo"), ("DPO", "dpo")], ("RL against the reward with a KL penalty, "
                                                              "or straight from the pairs")),
     [("Built on", [("RL for language models", "rl_for_lms"), ("KL divergence", "kl_divergence")],
       "policy gradients; the penalty that keeps the policy near the reference")]),
    (("Evaluation", [("held-out accuracy", "reward_model#measuring-a-reward-model"),
                     ("judges", "rlaif#evaluating-a-judge-and-how-judges-fail"),
                     ("red teaming", "rlaif#red-teaming")], "is the model better, and safe?"),
     [("At answer time", [("RAG", "rag"), ("PAL", "pal"), ("reasoning and tool use", "reasoning")],
       "retrieve, compute, call tools"),
      (None, [("Cheaper models", "cheaper_models")], "the same behaviour at a lower cost")]),
]


def _links(items, on_site: set[str]) -> str:
    out = []
    for label, target in items:
        lesson, _, anchor = target.partition("#")
        out.append(f"[{label}](lessons/{lesson}.md{'#' + anchor if anchor else ''})" if lesson in on_site else label)
    return " · ".join(out)


def _box(kind: str, box, on_site: set[str]) -> str:
    title, items, adds = box
    head = f"<strong>{title}</strong><br>{_links(items, on_site)}" if title else f"**{_links(items, on_site)}**"
    return f'<div class="pipeline-box pipeline-{kind}" markdown="span">{head}<br><small>{adds}</small></div>'


def pipeline_map(on_site: list[str]) -> str:
    """The map as Markdown for the home page; ``on_site``: the lessons in the site's navigation."""
    lessons = set(on_site)
    stages = []
    for main, attached in STAGES:
        boxes = [_box("main", main, lessons), *(_box("side", box, lessons) for box in attached)]
        stages.append('<div class="pipeline-stage" markdown>\n' + "\n".join(boxes) + "\n</div>")
    return '<div class="pipeline-map" markdown>\n' + "\n".join(stages) + "\n</div>"
