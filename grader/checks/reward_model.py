"""Checks for the reward-model exercise (``solutions/reward_model.py``).

Inputs are chosen to separate mistakes: batches of distinct reward gaps of both signs, margins that
differ per pair, gaps of +-200 (where log(sigmoid(.)) and log(1 + exp(.)) overflow in float32), ties
for the accuracy, sentence pairs of unequal lengths with padding, a perturbed encoder (so that what
the [CLS] state attends to matters) and a head whose weights the check sets itself. The training
check compares outcomes, not weights: any correct loop passes.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import torch
import torch.nn as nn

from grader.checking import (Check, CheckFailed, Context, LearnerError, Mistake, expect_tensor, seed_for, seeded, weighted_grads)
from grader.preferences import load_preferences

MISTAKES: dict[str, Mistake] = {
    # RewardModel
    "reward_not_squeezed": Mistake("RewardModel", "the head returns (B, 1): squeeze(-1) it to (B,), or a "
                                   "(B, 1) reward against a (B,) one broadcasts to (B, B) in the losses"),
    "last_position_pooling": Mistake("RewardModel", "position -1 is [SEP] for the longest text and [PAD] for "
                                     "the others: read [CLS] at position 0, last_hidden_state[:, 0]"),
    "mean_pooling_over_padding": Mistake("RewardModel", "a mean over all positions includes the padding, so "
                                         "the reward depends on the batch: read [CLS], last_hidden_state[:, 0]"),
    "attention_mask_ignored": Mistake("RewardModel", "pass attention_mask to the encoder: without it [CLS] "
                                      "attends to the padding and the reward depends on the batch"),
    "pooler_output": Mistake("RewardModel", "read the [CLS] state last_hidden_state[:, 0], not pooler_output "
                             "(an extra dense + tanh layer trained for next-sentence prediction)"),
    "head_without_relu": Mistake("RewardModel", "the head is Linear -> ReLU -> Dropout -> Linear: without the "
                                 "ReLU the two Linear layers collapse into one linear map"),
    "dropout_in_eval": Mistake("RewardModel", "dropout is still on in eval mode: F.dropout(x, p) defaults to "
                               "training=True; use an nn.Dropout module, which model.eval() turns off"),
    "forward_under_no_grad": Mistake("RewardModel", "the rewards carry no gradient: do not compute the "
                                     "forward pass under torch.no_grad() (or detach it); training needs it"),
    "encoder_under_no_grad": Mistake("RewardModel", "no gradient reaches the encoder: do not run it under "
                                     "torch.no_grad() or detach its output; freeze it only when "
                                     "freeze_encoder=True, with requires_grad_(False)"),
    "freeze_ignored": Mistake("RewardModel", "with freeze_encoder=True no gradient may reach the encoder: "
                              "set requires_grad=False on every encoder parameter (encoder.requires_grad_(False))"),
    # pairwise_loss
    "swapped_chosen_rejected": Mistake("pairwise_loss", "chosen and rejected are swapped: the loss is "
                                       "-log sigma(r_chosen - r_rejected)"),
    "missing_minus": Mistake("pairwise_loss", "the loss is MINUS log sigma(d): you returned log sigma(d), "
                             "which training would push the wrong way"),
    "log_sigmoid_overflow": Mistake("pairwise_loss", "log(sigmoid(d)) underflows to log(0) = -inf once d is "
                                    "below about -89 in float32: use -F.logsigmoid(d)"),
    "naive_log1p_exp": Mistake("pairwise_loss", "log(1 + exp(-d)) overflows once -d is above about 89 in "
                               "float32: use F.softplus(-d) (or -F.logsigmoid(d))"),
    "sum_not_mean": Mistake("pairwise_loss", "average over the batch (.mean()): a sum scales the loss and the "
                            "gradient with the batch size"),
    "sigmoid_before_loss": Mistake("pairwise_loss", "the rewards are logits: take -log sigma(r_c - r_r) of "
                                   "the raw rewards, not of sigmoid(r_c) - sigmoid(r_r)"),
    "margin_sign": Mistake("pairwise_loss", "the margin is subtracted: -log sigma(r_c - r_r - m), so the gap "
                           "must exceed m before the loss gets small"),
    "margin_broadcast": Mistake("pairwise_loss", "a (B, 1) margin against a (B,) gap broadcasts to (B, B): "
                                "keep the margin (B,)"),
    "margin_ignored": Mistake("pairwise_loss", "the margin is not used: subtract it from the gap, "
                              "-log sigma(r_c - r_r - m)"),
    # rating_loss
    "rating_no_sigmoid": Mistake("rating_loss", "the reward is a logit: compare sigmoid(rewards) with the "
                                 "ratings, not the raw rewards"),
    "rating_broadcast": Mistake("rating_loss", "a (B, 1) tensor against a (B,) one broadcasts to (B, B): "
                                "keep sigmoid(rewards) and ratings both (B,)"),
    "rating_sum": Mistake("rating_loss", "take the mean of the squared errors, not the sum"),
    # preference_accuracy
    "ties_counted_correct": Mistake("preference_accuracy", "a tie is not a preference: count "
                                    "chosen > rejected strictly (with >=, a constant model scores 100%)"),
    "accuracy_count": Mistake("preference_accuracy", "return the fraction of pairs ranked correctly "
                              "(a mean), not their number"),
    # train_reward_model
    "train_swapped": Mistake("train_reward_model", "the model learns the inverse preference: call "
                             "pairwise_loss(chosen_rewards, rejected_rewards) with the chosen rewards first"),
    "train_no_optimizer_step": Mistake("train_reward_model", "the model's parameters did not change: each "
                                       "step needs loss.backward() and then optimizer.step(), with an optimizer "
                                       "built over model.parameters()"),
    "train_rewards_under_no_grad": Mistake("train_reward_model", "loss.backward() found no graph: compute the "
                                           "rewards in the training loop without torch.no_grad()"),
    "train_no_zero_grad": Mistake("train_reward_model", "gradients accumulate across steps: call "
                                  "optimizer.zero_grad() in every step, before loss.backward()"),
    "train_optimizer_per_step": Mistake("train_reward_model", "build the AdamW optimizer once, before the loop: "
                                        "a new one each step forgets its moment estimates"),
    "train_lr_ignored": Mistake("train_reward_model", "the learning rate is not the one passed in: build "
                                "torch.optim.AdamW(..., lr=lr)"),
    "train_no_train_mode": Mistake("train_reward_model", "call model.train() before the loop: the model may "
                                   "arrive in eval mode, with dropout off"),
    "train_unshuffled": Mistake("train_reward_model", "the pairs are taken in their stored order: draw a shuffled "
                                "order with torch.randperm(len(pairs))"),
    "train_new_order_every_step": Mistake("train_reward_model", "a new order is drawn every step (pairs repeat and "
                                          "others are skipped): draw one with torch.randperm and walk through it, "
                                          "drawing again only when fewer than batch_size pairs remain"),
    "train_short_last_batch": Mistake("train_reward_model", "every step takes batch_size pairs: when fewer remain, "
                                      "draw a new order instead of training on the short remainder"),
    "train_no_reshuffle": Mistake("train_reward_model", "when the shuffled order runs out, draw a new one with "
                                  "torch.randperm (each epoch sees the pairs in a new order)"),
}

OBSERVATIONS = {
    "padding_shift": "the change of a text's reward when the batch pads it (0 for a correct model)",
    "rewards": "the rewards (B,) in eval mode",
    "grad_head": "the gradient reaching the head's parameters",
    "grad_encoder": "the gradient reaching the encoder's parameters",
    "loss": "the pairwise loss",
    "grad_chosen": "the gradient of the pairwise loss with respect to chosen_rewards",
    "grad_rejected": "the gradient of the pairwise loss with respect to rejected_rewards",
    "loss_margin": "the pairwise loss with a margin",
    "grad_margin": "the gradient with respect to chosen_rewards with a margin",
    "loss_extreme": "the pairwise loss at reward gaps of +-200",
    "grad_extreme": "the gradient at reward gaps of +-200",
    "rating_loss": "the rating loss",
    "grad_rating": "the gradient of the rating loss with respect to the rewards",
    "accuracy": "the preference accuracy",
    "rewards_frozen": "the rewards (B,) of a model with a frozen encoder",
    "train_losses": "the losses returned by the training steps, step by step",
    "train_rewards": "the rewards (B,) of the model after the training steps",
    "train_mode": "the fraction of training forward passes made in train() mode (per training run)",
    "train_losses_exact": "the step losses with batches that divide the pairs exactly",
    "held_out_accuracy": "the held-out accuracy after the full training run (the grader's own evaluation)",
    "grad_head_frozen": "the gradient reaching the head when the encoder is frozen",
}

HIDDEN, DROPOUT = 48, 0.25  # not the defaults, and hidden != the encoder's 64: shape mistakes show
TRAIN_STEPS, TRAIN_BATCH, TRAIN_LR = 30, 8, 2e-3  # not AdamW's default lr: a loop that ignores lr shows
PROBE_PAIRS, PROBE_STEPS = 20, 6  # 20 = 2 batches of 8 + 4 left over: the order is drawn again every 2 steps
MIN_HELD_OUT_ACCURACY = 0.8  # the reference reaches 0.95-1.0 from any seed; chance is 0.5
# Outcomes that vary between correct loops (30 AdamW steps amplify float rounding): judged by a bound, not equality.
AT_LEAST = {"held_out_accuracy": MIN_HELD_OUT_ACCURACY}
# Six AdamW steps give every parameter an update of about lr in size, whatever the size of its gradient: on
# parameters whose gradient is rounding noise, the sign is noise. Correct loops that add in another order end
# up ~1e-3 apart in rewards; every catalogued mistake lands 1e-1 or more away. (rtol, atol):
TOLERANCE = {"train_rewards": (1e-2, 1e-3), "train_losses": (1e-2, 1e-3), "train_losses_exact": (1e-2, 1e-3)}


def autograd_ops(t: torch.Tensor) -> set[str]:
    """Names of the autograd nodes that built ``t`` (e.g. ``SigmoidBackward0``): how it was computed."""
    names, seen, stack = set(), set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(n for n, _ in node.next_functions)
    return names


# --- the reward model ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _tiny_bert():
    from grader.tiny_models import load_bert

    encoder, tokenizer, _ = load_bert(device="cpu")
    return encoder, tokenizer


def fresh_encoder(ctx: Context, perturb: bool = True) -> nn.Module:
    """A private copy of the tiny BERT on the grading device. Perturbed, its attention is far from uniform,
    so reading the wrong position or attending to padding changes rewards by much more than the tolerance."""
    encoder = copy.deepcopy(_tiny_bert()[0])
    if perturb:
        g = seeded(5)
        with torch.no_grad():
            for _, p in sorted(encoder.named_parameters()):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return encoder.to(ctx.device, ctx.dtype).eval()


def head_linears(model: nn.Module, encoder: nn.Module, hidden: int) -> tuple[nn.Linear, nn.Linear]:
    """The head's two nn.Linear layers, found by shape: (H -> hidden) and (hidden -> 1)."""
    if not isinstance(model, nn.Module):
        raise CheckFailed("RewardModel(...) must build an nn.Module", got=type(model).__name__,
                          hint="subclass torch.nn.Module and call super().__init__() first")
    H = encoder.config.hidden_size
    mine = {id(p) for p in model.parameters()}
    if not all(id(p) in mine for p in encoder.parameters()):
        raise CheckFailed("RewardModel does not hold the encoder it was given",
                          hint="store the encoder argument as a submodule (self.encoder = encoder); "
                               "do not copy it or load another one")
    inside = {id(m) for m in encoder.modules()}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear) and id(m) not in inside]
    first = [m for m in linears if tuple(m.weight.shape) == (hidden, H) and m.bias is not None]
    last = [m for m in linears if tuple(m.weight.shape) == (1, hidden) and m.bias is not None]
    if len(linears) != 2 or len(first) != 1 or len(last) != 1:
        shapes = [f"Linear({m.in_features}, {m.out_features})" for m in linears]
        raise CheckFailed("the head should be exactly two nn.Linear layers with biases",
                          expected=f"Linear({H}, {hidden}) and Linear({hidden}, 1) for hidden={hidden}",
                          got=", ".join(shapes) or "no nn.Linear outside the encoder",
                          hint="Linear(H, hidden) -> ReLU -> Dropout(dropout) -> Linear(hidden, 1), "
                               "with H = encoder.config.hidden_size")
    return first[0], last[0]


def build_model(ctx: Context, freeze: bool = False) -> tuple[nn.Module, nn.Module, list[nn.Parameter]]:
    """The learner's RewardModel on a fresh encoder, its head set from a seeded generator (so that neither
    the learner's layer order nor torch's default init matters). Returns (model, encoder, head params)."""
    encoder = fresh_encoder(ctx)
    model = ctx.call("RewardModel", encoder, hidden=HIDDEN, dropout=DROPOUT, freeze_encoder=freeze)
    first, last = head_linears(model, encoder, HIDDEN)
    g = seeded(9)
    H = encoder.config.hidden_size
    values = [torch.randn(HIDDEN, H, generator=g) / H**0.5, 0.2 * torch.randn(HIDDEN, generator=g),
              2.0 * torch.randn(1, HIDDEN, generator=g) / HIDDEN**0.5, torch.tensor([0.3])]
    params = [first.weight, first.bias, last.weight, last.bias]
    with torch.no_grad():
        for p, v in zip(params, values):
            p.copy_(v)
    model.to(ctx.device, ctx.dtype)
    return model, encoder, params


PROMPTS = ["How do I keep basil alive?", "What is a good first programming language?",
           "Can you help me write a short thank-you note to my neighbour for watering my plants?"]
RESPONSES = ["Water it often.", "Python: its syntax is readable and its libraries cover almost everything.",
             "Of course. Dear Sam, thank you so much for looking after my plants while I was away."]


def model_inputs(ctx: Context, texts: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """Sentence pairs of unequal lengths, right-padded: input_ids and attention_mask, each (B, T)."""
    tokenizer = _tiny_bert()[1]
    enc = tokenizer(PROMPTS[texts], RESPONSES[texts], padding=True, return_tensors="pt")
    return enc["input_ids"].to(ctx.device), enc["attention_mask"].to(ctx.device)


def _rewards(ctx: Context, model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = ctx.invoke("RewardModel.forward", model, ids, mask)
    B = ids.shape[0]
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (B, 1):
        raise CheckFailed("RewardModel: the rewards have the wrong shape", expected=f"shape ({B},)",
                          got=f"shape ({B}, 1)", hint=MISTAKES["reward_not_squeezed"].hint, mistake="reward_not_squeezed")
    return expect_tensor("RewardModel", out, (B,), "rewards")


def _projection(grads: list[torch.Tensor], seed: int) -> torch.Tensor:
    """A gradient projected on 8 fixed random directions: sensitive to any difference, small to store."""
    flat = torch.cat([g.detach().flatten().cpu().double() for g in grads])
    return torch.randn(8, flat.numel(), generator=seeded(seed), dtype=torch.float64) @ flat


def check_reward_model(ctx: Context) -> dict:
    model, encoder, head = build_model(ctx)
    model.eval()
    ids, mask = model_inputs(ctx)
    with torch.no_grad():
        first, second = _rewards(ctx, model, ids, mask), _rewards(ctx, model, ids, mask)
    if not torch.allclose(first, second, rtol=ctx.rtol, atol=ctx.atol):  # dropout changes them by far more
        raise CheckFailed("RewardModel: in eval mode the same batch gave different rewards",
                          expected=first, got=second, hint=MISTAKES["dropout_in_eval"].hint, mistake="dropout_in_eval")
    alone_ids, alone_mask = model_inputs(ctx, slice(0, 1))  # the shortest text, without padding
    with torch.no_grad():
        alone = _rewards(ctx, model, alone_ids, alone_mask)

    rewards = _rewards(ctx, model, ids, mask)
    if not rewards.requires_grad:
        raise CheckFailed("RewardModel: the rewards carry no gradient", expected="rewards with a grad_fn",
                          got="requires_grad=False", hint=MISTAKES["forward_under_no_grad"].hint,
                          mistake="forward_under_no_grad")
    weights = torch.tensor([1.0, -0.5, 2.0], device=ctx.device, dtype=ctx.dtype)  # distinct per text
    encoder_params = [p for _, p in sorted(encoder.named_parameters())]
    grads = weighted_grads("RewardModel", rewards, head + encoder_params, weights)
    if all(g.abs().sum() == 0 for g in grads[len(head):]):
        raise CheckFailed("RewardModel: no gradient reaches the encoder (freeze_encoder=False)",
                          expected="non-zero encoder gradients", got="none",
                          hint=MISTAKES["encoder_under_no_grad"].hint, mistake="encoder_under_no_grad")
    if any(g.abs().sum() == 0 for g in grads[: len(head)]):
        raise CheckFailed("RewardModel: some head parameters get no gradient", expected="gradients on both "
                          "Linear layers of the head", got="a zero gradient",
                          hint="the head must be used in forward: Linear -> ReLU -> Dropout -> Linear on [CLS]")
    return {"padding_shift": (alone - first[:1]).detach(), "rewards": first,
            "grad_head": _projection(grads[: len(head)], 11), "grad_encoder": _projection(grads[len(head):], 12)}


def check_freeze_encoder(ctx: Context) -> dict:
    model, encoder, head = build_model(ctx, freeze=True)
    if any(p.requires_grad for p in encoder.parameters()) or not all(p.requires_grad for p in head):
        # the spec's contract: an optimizer built over the parameters that require gradients skips the encoder
        raise CheckFailed("RewardModel(freeze_encoder=True): the encoder's parameters still require gradients",
                          expected="requires_grad=False on every encoder parameter, True on the head",
                          got="encoder parameters with requires_grad=True", hint=MISTAKES["freeze_ignored"].hint,
                          mistake="freeze_ignored")
    model.eval()
    ids, mask = model_inputs(ctx)
    rewards = _rewards(ctx, model, ids, mask)
    if not rewards.requires_grad:
        raise CheckFailed("RewardModel(freeze_encoder=True): the rewards carry no gradient",
                          expected="gradients on the head", got="requires_grad=False",
                          hint="freezing the encoder must leave the head trainable: freeze with "
                               "encoder.requires_grad_(False), not by running the whole forward under no_grad")
    rewards.sum().backward()
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters()):
        raise CheckFailed("RewardModel(freeze_encoder=True): gradients reached the encoder",
                          expected="no encoder gradients", got="encoder parameters with .grad set",
                          hint=MISTAKES["freeze_ignored"].hint, mistake="freeze_ignored")
    if any(p.grad is None or p.grad.abs().sum() == 0 for p in head):
        raise CheckFailed("RewardModel(freeze_encoder=True): the head gets no gradient",
                          expected="gradients on both Linear layers of the head", got="none",
                          hint="freeze only the encoder's parameters; the head must stay trainable")
    return {"rewards_frozen": rewards.detach(), "grad_head_frozen": _projection([p.grad for p in head], 13)}


# --- the losses and the accuracy ---------------------------------------------------------------


def _call_loss(ctx: Context, name: str, *args, **kwargs) -> torch.Tensor:
    return expect_tensor(name, ctx.call(name, *args, **kwargs), (), "loss")


def _call_pairwise_extreme(ctx: Context, chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """The pairwise loss where it overflows unless computed stably; names the unstable form it finds."""
    out = ctx.call("pairwise_loss", chosen, rejected)
    if isinstance(out, torch.Tensor) and out.dim() == 0 and not torch.isfinite(out):
        ops = autograd_ops(out)  # both unstable forms give inf here; how the loss was built tells them apart
        mistake = ("log_sigmoid_overflow" if "SigmoidBackward0" in ops
                   else "naive_log1p_exp" if "ExpBackward0" in ops else None)
        raise CheckFailed(f"pairwise_loss: the loss is {out.item()} at reward gaps of +-200",
                          expected="a finite loss", got=out,
                          hint=MISTAKES[mistake].hint if mistake else "an overflow: use F.logsigmoid or F.softplus",
                          mistake=mistake)
    return expect_tensor("pairwise_loss", out, (), "loss")


def check_pairwise_loss(ctx: Context) -> dict:
    chosen = ctx.literal([1.5, 0.2, -0.3, 2.0], requires_grad=True)
    rejected = ctx.literal([0.5, 0.9, 0.9, -1.0], requires_grad=True)  # gaps 1.0, -0.7, -1.2, 3.0
    loss = _call_loss(ctx, "pairwise_loss", chosen, rejected)
    grad_chosen, grad_rejected = weighted_grads("pairwise_loss", loss, [chosen, rejected])
    margin = ctx.literal([2.0, 0.0, 0.5, 1.5])
    loss_margin = _call_loss(ctx, "pairwise_loss", chosen, rejected, margin=margin)
    (grad_margin,) = weighted_grads("pairwise_loss with a margin", loss_margin, [chosen])
    # Gaps of -200, +200 and -0.5: log(sigmoid(-200)) and log(1 + exp(200)) are inf in float32.
    extreme_chosen = ctx.literal([-120.0, 90.0, 0.3], requires_grad=True)
    extreme_rejected = ctx.literal([80.0, -110.0, 0.8])
    loss_extreme = _call_pairwise_extreme(ctx, extreme_chosen, extreme_rejected)
    (grad_extreme,) = weighted_grads("pairwise_loss at extreme gaps", loss_extreme, [extreme_chosen])
    if not torch.isfinite(grad_extreme).all():
        raise CheckFailed("pairwise_loss: the gradient at reward gaps of +-200 contains inf or NaN", got=grad_extreme,
                          hint="an overflow inside the loss (torch.where still differentiates both branches): "
                               "use F.logsigmoid or F.softplus")
    return {"loss": loss.detach(), "grad_chosen": grad_chosen, "grad_rejected": grad_rejected,
            "loss_margin": loss_margin.detach(), "grad_margin": grad_margin,
            "loss_extreme": loss_extreme.detach(), "grad_extreme": grad_extreme}


def check_rating_loss(ctx: Context) -> dict:
    rewards = ctx.literal([2.0, 0.0, 1.0, -1.5], requires_grad=True)
    ratings = ctx.tensor([1.0, 0.5, 0.0, 0.5])  # good, neutral, bad, neutral
    loss = _call_loss(ctx, "rating_loss", rewards, ratings)
    (grad,) = weighted_grads("rating_loss", loss, [rewards])
    return {"rating_loss": loss.detach(), "grad_rating": grad}


def check_preference_accuracy(ctx: Context) -> dict:
    chosen = ctx.literal([1.5, 0.2, 0.4, 3.0, -1.0])
    rejected = ctx.literal([0.5, 0.9, 0.4, -2.0, -1.0])  # right, wrong, tie, right, tie
    if ctx.variant:  # a secret variant adds two pairs drawn from these cases and shuffles: every case (ties
        g = seeded(31)  # included) stays, and an accuracy of k/7 is never the public 2/5
        pick = torch.cat([torch.arange(5), torch.randint(0, 5, (2,), generator=g)])
        pick = pick[torch.randperm(7, generator=g)].to(ctx.device)
        chosen, rejected = chosen[pick], rejected[pick]
    # The whole batch, then sub-batches of its cases, so that each kind of slip moves several accuracies
    # (one number is no evidence for a hint): [tie, right], [tie, wrong, tie], [right, wrong, right, right].
    batches = [torch.arange(len(chosen))] + [torch.tensor(i) for i in ([2, 0], [4, 1, 2], [0, 1, 3, 0])]
    accuracies = []
    for pick in batches:
        out = ctx.call("preference_accuracy", chosen[pick.to(chosen.device)], rejected[pick.to(chosen.device)])
        if not isinstance(out, float):  # the spec says a Python float
            raise CheckFailed("preference_accuracy must return a Python float", expected="a float such as 0.4",
                              got=type(out).__name__, hint="reduce with .float().mean().item()")
        accuracies.append(out)
    return {"accuracy": torch.tensor(accuracies, dtype=torch.float64)}


# --- training ----------------------------------------------------------------------------------


def held_out_accuracy(ctx: Context, model: nn.Module, pairs: list[dict]) -> float:
    """The grader's own evaluation: eval mode, no graph, ties count as wrong."""
    tokenizer = _tiny_bert()[1]
    prompts = [ex["prompt"] for ex in pairs]
    rewards = []
    model.eval()
    with torch.no_grad():
        for key in ("chosen", "rejected"):
            enc = tokenizer(prompts, [ex[key] for ex in pairs], padding=True, truncation=True, max_length=128,
                            return_tensors="pt")
            rewards.append(_rewards(ctx, model, enc["input_ids"].to(ctx.device), enc["attention_mask"].to(ctx.device)))
    return (rewards[0] > rewards[1]).double().mean().item()


class ProbeRewardModel(nn.Module):
    """The grader's own reward model for the training check: [CLS] -> Linear, no dropout anywhere, so that
    every loop that follows the spec takes exactly the same steps; it records the mode of each call."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        for module in encoder.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        self.head = nn.Linear(encoder.config.hidden_size, 1)
        self.modes: list[bool] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training and self.encoder.training)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden[:, 0]).squeeze(-1)


def _train_probe(ctx: Context, pairs: list[dict], steps: int, batch_size: int) -> tuple[ProbeRewardModel, list, dict]:
    """A fresh probe model trained by the learner's loop: (model, returned losses, parameters before)."""
    model = ProbeRewardModel(fresh_encoder(ctx, perturb=False)).to(ctx.device, ctx.dtype).eval()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    try:
        losses = ctx.call("train_reward_model", model, _tiny_bert()[1], pairs, steps=steps, batch_size=batch_size,
                          lr=TRAIN_LR)
    except LearnerError as exc:
        if "does not require grad" in str(exc):
            raise CheckFailed("train_reward_model: loss.backward() failed", got=str(exc),
                              hint=MISTAKES["train_rewards_under_no_grad"].hint,
                              mistake="train_rewards_under_no_grad") from None
        raise
    if not isinstance(losses, (list, tuple)) or len(losses) != steps:
        raise CheckFailed(f"train_reward_model(steps={steps}) must return the list of its {steps} step losses",
                          expected=f"a list of {steps} floats",
                          got=f"a list of {len(losses)}" if isinstance(losses, (list, tuple)) else type(losses).__name__,
                          hint="run exactly `steps` optimizer steps and append loss.item() after each")
    if not all(isinstance(x, float) for x in losses):
        raise CheckFailed("train_reward_model must return the step losses as Python floats",
                          got=repr(losses)[:200], hint="append loss.item() after each step")
    if all(torch.equal(before[n], p.detach()) for n, p in model.named_parameters()):
        raise CheckFailed("train_reward_model: the model's parameters did not change",
                          hint=MISTAKES["train_no_optimizer_step"].hint, mistake="train_no_optimizer_step")
    return model, list(losses), before


def check_train_reward_model(ctx: Context) -> dict:
    """White-box first: a few seeded steps of the learner's loop on the grader's own model (20 pairs, batches of
    8, so the order runs out and is drawn again, 4 pairs left over each time), whose losses, parameter update
    and train/eval mode are compared with the reference's; few enough steps that float rounding cannot grow.
    Then one outcome: TRAIN_STEPS steps on all the pairs rank the held-out pairs (the grader's own evaluation)."""
    torch.manual_seed(seed_for(0))  # the head's init and the loop's torch.randperm: the same for every run
    model, losses, _ = _train_probe(ctx, load_preferences("train")[:PROBE_PAIRS], PROBE_STEPS, TRAIN_BATCH)
    modes = [list(model.modes)]  # a copy: the evaluation below adds to model.modes
    # Batches of 5 of the same 20 pairs: the order runs out exactly, after the fourth batch, not before.
    exact_model, exact, _ = _train_probe(ctx, load_preferences("train")[:PROBE_PAIRS], PROBE_STEPS, 5)
    modes.append(exact_model.modes)
    ids, mask = model_inputs(ctx)
    model.eval()
    with torch.no_grad():  # the trained model's rewards: smooth in its parameters, unlike AdamW's first updates
        trained = model(ids, mask).double()
    torch.manual_seed(seed_for(1))
    model, _, _ = _train_probe(ctx, load_preferences("train"), TRAIN_STEPS, TRAIN_BATCH)
    modes.append(model.modes)
    mode = torch.tensor([sum(m) / max(len(m), 1) for m in modes], dtype=torch.float64)  # one fraction per run
    return {"train_losses": torch.tensor(losses, dtype=torch.float64), "train_rewards": trained, "train_mode": mode,
            "train_losses_exact": torch.tensor(exact, dtype=torch.float64),
            "held_out_accuracy": torch.tensor(held_out_accuracy(ctx, model, load_preferences("test")),
                                              dtype=torch.float64)}


CHECKS = (
    Check("RewardModel", ("RewardModel",), check_reward_model,
          "rewards (B,) from [CLS]; padding invariance; attention mask; eval mode deterministic; gradients", points=3),
    Check("freeze_encoder", ("RewardModel",), check_freeze_encoder,
          "freeze_encoder=True: gradients reach the head only", points=1),
    Check("pairwise_loss", ("pairwise_loss",), check_pairwise_loss,
          "Bradley-Terry loss and gradients, with and without a margin, stable at extreme gaps", points=3),
    Check("rating_loss", ("rating_loss",), check_rating_loss, "MSE between sigmoid(reward) and ratings", points=1),
    Check("preference_accuracy", ("preference_accuracy",), check_preference_accuracy,
          "fraction ranked correctly; ties count as wrong", points=1),
    Check("train_reward_model", ("train_reward_model", "pairwise_loss"), check_train_reward_model,
          "seeded training steps on the tiny BERT, step by step against the reference; then held-out accuracy",
          points=2, timeout_s=60),
)
