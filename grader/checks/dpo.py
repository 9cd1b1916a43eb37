"""Checks for the DPO exercise (``solutions/dpo.py``).

Inputs are chosen to separate mistakes: policy != reference, beta != 1, batches of distinct margins,
unequal lengths with padding, logits that depend on position (a missing shift shows), and margins
extreme enough that log(sigmoid(.)) underflows in float32.
"""

from __future__ import annotations

import copy
import math

import torch

from grader.checking import (Check, CheckFailed, Context, Mistake, expect_tensor, expect_value_error, seeded,
                             weighted_grads)

BETA = 0.3

MISTAKES: dict[str, Mistake] = {
    # sequence_logps
    "no_shift": Mistake("sequence_logps", "logits at position t predict token t+1: compare logits[:, :-1] "
                        "with input_ids[:, 1:] (you scored each token with its own position's logits)"),
    "shift_backwards": Mistake("sequence_logps", "the shift goes the other way: logits[:, :-1] score "
                               "input_ids[:, 1:], not logits[:, 1:] against input_ids[:, :-1]"),
    "mask_not_shifted": Mistake("sequence_logps", "shift the response mask with the targets: "
                                "use response_mask[:, 1:], the mask of the tokens being predicted"),
    "mask_ignored": Mistake("sequence_logps", "prompt and padding tokens were counted: multiply the token "
                            "log-probs by the (shifted) response mask before summing"),
    "mean_not_sum": Mistake("sequence_logps", "the sequence log-probability is the SUM of token log-probs; "
                            "you averaged (a length normalisation DPO does not use)"),
    "log_softmax_in_bf16": Mistake("sequence_logps", "the log-softmax ran in bfloat16 and only the result was "
                                   "cast: upcast the logits (logits.float()) before the log-softmax"),
    "raw_logits": Mistake("sequence_logps", "gather from log_softmax(logits), not from the raw logits: "
                          "logits are unnormalised scores, not log-probabilities"),
    # dpo_loss
    "missing_minus": Mistake("dpo_loss", "the loss is -log sigma(beta*h): you returned log sigma(beta*h), "
                             "which training would maximise the wrong way"),
    "swapped_chosen_rejected": Mistake("dpo_loss", "chosen and rejected are swapped: h is the chosen "
                                       "log-ratio minus the rejected log-ratio"),
    "ratio_inverted": Mistake("dpo_loss", "the log-ratios are inverted: use log pi - log pi_ref "
                              "(policy minus reference), not reference minus policy"),
    "beta_outside": Mistake("dpo_loss", "beta goes inside the sigmoid: -log sigma(beta*h), "
                            "not -beta * log sigma(h)"),
    "no_beta": Mistake("dpo_loss", "beta is missing: the loss is -log sigma(beta*h)"),
    "reference_ignored": Mistake("dpo_loss", "the reference log-probs are not used: DPO compares policy "
                                 "log-ratios with the frozen reference's (it drops the reward model, "
                                 "not the reference)"),
    "log_sigmoid_overflow": Mistake("dpo_loss", "log(sigmoid(z)) becomes log(0) = -inf for z below about "
                                    "-88.7 in float32: use F.logsigmoid(z) (or -softplus(-z))"),
    "rewards_not_detached": Mistake("dpo_loss", "the implicit rewards are metrics: return "
                                    "beta * (log pi - log pi_ref).detach()"),
    "rewards_without_beta": Mistake("dpo_loss", "the implicit reward is beta * (log pi - log pi_ref): "
                                    "the factor beta is missing"),
    "smoothing_in_ipo_hinge": Mistake("dpo_loss", "label_smoothing belongs to the sigmoid loss only: IPO and the "
                                      "hinge ignore it"),
    "label_smoothing_swapped": Mistake("dpo_loss", "label smoothing eps weights the flipped label: "
                                       "-(1-eps) log sigma(beta*h) - eps log sigma(-beta*h)"),
    "ipo_wrong_target": Mistake("dpo_loss", "IPO regresses h onto 1/(2*beta): (h - 1/(2*beta))**2"),
    "hinge_without_beta": Mistake("dpo_loss", "the hinge loss is relu(1 - beta*h): beta scales h"),
    # dpo_step
    "reference_gets_gradients": Mistake("dpo_step", "the reference must stay frozen: compute its "
                                        "log-probs inside torch.no_grad() so no gradient reaches it"),
    "no_zero_grad": Mistake("dpo_step", "gradients accumulate across steps: call optimizer.zero_grad() "
                            "every step"),
    "loss_summed": Mistake("dpo_step", "average the per-pair losses over the batch (losses.mean()); "
                           "a sum scales the step with the batch size"),
    "step_beta_ignored": Mistake("dpo_step", "pass dpo_step's beta on to dpo_loss (its default is not the beta "
                                 "the step was called with)"),
    "metrics_ties_counted": Mistake("dpo_step", "a tie is not a correct ranking: reward_accuracy counts the pairs "
                                    "whose chosen reward is strictly higher (the batch has a pair that ties)"),
    "metrics_after_update": Mistake("dpo_step", "report the metrics of the batch as this step scored it, before "
                                    "optimizer.step(): the rewards returned by dpo_loss, not a second pass"),
    "zero_grad_after_backward": Mistake("dpo_step", "the step changed nothing: no gradient was there when "
                                        "optimizer.step() ran. The order is optimizer.zero_grad(), loss.backward(), "
                                        "optimizer.step() (a zero_grad between backward and step wipes them)"),
}

OBSERVATIONS = {
    "logps": "the sequence log-probabilities (B,)",
    "grad_logits": "the gradient with respect to the logits",
    "logps_bf16": "the sequence log-probabilities for bfloat16 logits (computed in float32)",
    "losses": "the per-pair losses",
    "chosen_rewards": "the chosen rewards",
    "rejected_rewards": "the rejected rewards",
    "grad_policy_chosen": "the gradient of the loss with respect to policy_chosen_logps",
    "grad_policy_rejected": "the gradient of the loss with respect to policy_rejected_logps",
    "grad_ref_chosen": "the gradient of the loss with respect to ref_chosen_logps",
    "losses_extreme": "the losses at extreme margins",
    "losses_smoothed": "the label-smoothed losses (label_smoothing=0.2)",
    "losses_ipo": "the IPO losses (label_smoothing=0.2, which IPO ignores)",
    "losses_hinge": "the hinge losses (label_smoothing=0.2, which the hinge ignores)",
    "grad_ipo": "the IPO gradient",
    "step_losses": "the losses returned by two successive steps",
    "step_metrics": "reward_accuracy and reward_margin of each step (2, 2)",
    "update": "the change of the policy's parameters after two steps",
}


# --- inputs ----------------------------------------------------------------------------------


def logps_inputs(ctx: Context):
    """B=3, T=9, V=11. Position-dependent logits; prompts of 2, 3, 1 tokens; 0, 2, 3 padding tokens; one
    target logit far below the others."""
    g = seeded(1)
    B, T, V = 3, 9, 11
    position_bias = torch.linspace(-2.0, 2.0, T).view(1, T, 1) * torch.linspace(1.0, -1.0, V).view(1, 1, V)
    logits = 2.0 * torch.randn(B, T, V, generator=g) + 3.0 * position_bias
    input_ids = torch.randint(0, V, (B, T), generator=g)
    # One response token 150 nats below the best at its position: softmax underflows to 0 there in float32,
    # so log(softmax(.)) gives -inf where log_softmax gives about -150.
    logits[0, 3, input_ids[0, 4]] = logits[0, 3].max() - 150.0
    response_mask = torch.zeros(B, T)
    for b, (prompt, pad) in enumerate([(2, 0), (3, 2), (1, 3)]):
        response_mask[b, prompt : T - pad] = 1
    return ctx.tensor(logits, requires_grad=True), input_ids.to(ctx.device), ctx.tensor(response_mask)


def loss_inputs(ctx: Context, extreme: bool = False):
    """Four (B,) log-prob vectors; policy != reference; distinct margins of both signs."""
    if extreme:  # beta*h = +-180: log(sigmoid(-180)) is -inf in float32; exp(180) overflows
        pc = torch.tensor([-10.0, -700.0, -5.0, -20.0])
        pr = torch.tensor([-610.0, -100.0, -6.0, -20.5])
        rc = torch.tensor([-11.0, -100.0, -5.5, -19.0])
        rr = torch.tensor([-11.0, -100.0, -5.5, -19.0])
    else:
        pc = torch.tensor([-12.0, -30.5, -7.25, -41.0])
        pr = torch.tensor([-15.5, -28.0, -9.0, -35.0])
        rc = torch.tensor([-13.0, -29.0, -8.0, -40.0])
        rr = torch.tensor([-14.0, -29.5, -8.5, -37.5])
    return [ctx.literal(x, requires_grad=True) for x in (pc, pr, rc, rr)]


# Distinct weights per example: the gradient of sum(w * losses) shows per-example scaling mistakes.
WEIGHTS = torch.tensor([1.0, 0.5, -0.75, 2.0])


def _grad(output: torch.Tensor, inputs: list[torch.Tensor], ctx: Context, name: str):
    return weighted_grads(name, output, inputs, WEIGHTS[: output.shape[0]].to(ctx.device, output.dtype))


# --- checks ----------------------------------------------------------------------------------


def check_sequence_logps(ctx: Context) -> dict:
    logits, input_ids, response_mask = logps_inputs(ctx)
    out = ctx.call("sequence_logps", logits, input_ids, response_mask)
    expect_tensor("sequence_logps", out, (3,))
    (grad,) = _grad(out, [logits], ctx, "sequence_logps")
    # bfloat16 logits (what a model in bf16 returns): the spec asks for a float32 log-softmax.
    low = ctx.call("sequence_logps", logits.detach().to(torch.bfloat16), input_ids, response_mask)
    expect_tensor("sequence_logps", low, (3,), "output for bfloat16 logits")
    if low.dtype != torch.float32:
        raise CheckFailed("sequence_logps: bfloat16 logits must give float32 log-probs", expected="torch.float32",
                          got=str(low.dtype), hint="upcast the logits with logits.float() before the log-softmax; "
                          "bfloat16 keeps about 3 significant digits")
    return {"logps": out.detach(), "grad_logits": grad, "logps_bf16": low.detach()}


def _call_loss(ctx: Context, inputs, **kwargs):
    out = ctx.call("dpo_loss", *inputs, **kwargs)
    if not (isinstance(out, tuple) and len(out) == 3):
        raise CheckFailed("dpo_loss must return a tuple (losses, chosen_rewards, rejected_rewards)",
                          got=type(out).__name__, hint="return three (B,) tensors, as TRL does")
    for name, x in zip(("losses", "chosen_rewards", "rejected_rewards"), out):
        if not isinstance(x, torch.Tensor):
            raise CheckFailed(f"dpo_loss: {name} is not a tensor", got=type(x).__name__)
        if tuple(x.shape) == (4,) and not torch.isfinite(x).all():
            if name == "losses" and _overflow_pattern(x, inputs, **kwargs):
                raise CheckFailed(f"dpo_loss: {name} contains inf or NaN", got=x,
                                  hint=MISTAKES["log_sigmoid_overflow"].hint, mistake="log_sigmoid_overflow")
            raise CheckFailed(f"dpo_loss: {name} contains inf or NaN", got=x,
                              hint="an overflow or a division by zero: look for a division, an exp or a log of a "
                                   "value that can reach 0 (use F.logsigmoid, softplus)")
        expect_tensor("dpo_loss", x, (4,), name)
    return out


def _overflow_pattern(losses: torch.Tensor, inputs, beta: float, label_smoothing: float = 0.0,
                      loss_type: str = "sigmoid") -> bool:
    """Is the loss +inf exactly where log(sigmoid(.)) of one of its terms underflows to log(0) (argument below
    float32's exp overflow, about -88.7) and finite elsewhere? Only then is "log(sigmoid(z))" the evidence."""
    if loss_type != "sigmoid":
        return False
    pc, pr, rc, rr = (t.detach().double().cpu() for t in inputs)
    z = beta * ((pc - rc) - (pr - rr))
    bad = ~torch.isfinite(losses.detach().cpu())
    # +inf where z underflows; NaN allowed where -z does (0 * log(0) from a smoothing term with weight 0)
    return bool((bad[z < -88.8]).all() and not (bad & (z.abs() < 88.8)).any()
                and (losses.detach().cpu()[z < -88.8] == float("inf")).all())


def check_dpo_loss(ctx: Context) -> dict:
    inputs = loss_inputs(ctx)
    losses, chosen, rejected = _call_loss(ctx, inputs, beta=BETA)
    if chosen.requires_grad or rejected.requires_grad:
        raise CheckFailed("dpo_loss: the rewards carry gradients", expected="detached rewards",
                          got="rewards with requires_grad=True", hint=MISTAKES["rewards_not_detached"].hint,
                          mistake="rewards_not_detached")
    grads = _grad(losses, inputs, ctx, "dpo_loss")
    extreme = loss_inputs(ctx, extreme=True)
    losses_extreme = _call_loss(ctx, extreme, beta=BETA)[0]
    return {"losses": losses.detach(), "chosen_rewards": chosen, "rejected_rewards": rejected,
            "grad_policy_chosen": grads[0], "grad_policy_rejected": grads[1], "grad_ref_chosen": grads[2],
            "losses_extreme": losses_extreme.detach()}


def check_dpo_loss_variants(ctx: Context) -> dict:
    inputs = loss_inputs(ctx)
    smoothed = _call_loss(ctx, inputs, beta=BETA, label_smoothing=0.2)[0]
    # label_smoothing is passed to IPO and the hinge too: the spec says only "sigmoid" uses it
    ipo = _call_loss(ctx, inputs, beta=BETA, loss_type="ipo", label_smoothing=0.2)[0]
    (grad_ipo,) = _grad(ipo, inputs[:1], ctx, "dpo_loss(loss_type='ipo')")
    hinge = _call_loss(ctx, inputs, beta=BETA, loss_type="hinge", label_smoothing=0.2)[0]
    expect_value_error(lambda: ctx.fn("dpo_loss")(*inputs, beta=BETA, loss_type="no-such-loss"),
                       "dpo_loss with an unknown loss_type",
                       hint="a silent fallback hides typos such as loss_type='ipo ' in a config")
    return {"losses_smoothed": smoothed.detach(), "losses_ipo": ipo.detach(), "grad_ipo": grad_ipo,
            "losses_hinge": hinge.detach()}


def step_batch(ctx: Context, vocab: int) -> dict:
    """B=3 pairs sharing prompts; chosen/rejected responses of unequal lengths; right padding to one width. The
    third pair's two responses are the same text: its implicit rewards tie, which reward_accuracy counts as wrong."""
    g = seeded(7)
    prompts = [3, 5, 2]
    lengths = {"chosen": [6, 2, 4], "rejected": [3, 5, 4]}
    width = max(p + r for resp in lengths.values() for p, r in zip(prompts, resp))
    batch = {}
    prompt_ids = [torch.randint(1, vocab, (n,), generator=g) for n in prompts]
    responses = {}
    for prefix, resp in lengths.items():
        ids = torch.zeros(3, width, dtype=torch.long)
        attention = torch.zeros(3, width, dtype=torch.long)
        response = torch.zeros(3, width)
        for b, (p, r) in enumerate(zip(prompts, resp)):
            ids[b, :p] = prompt_ids[b]
            tokens = torch.randint(1, vocab, (r,), generator=g)
            responses[prefix, b] = responses["chosen", b] if (prefix, b) == ("rejected", 2) else tokens
            ids[b, p : p + r] = responses[prefix, b]
            attention[b, : p + r] = 1
            response[b, p : p + r] = 1
        batch.update({f"{prefix}_input_ids": ids.to(ctx.device), f"{prefix}_attention_mask": attention.to(ctx.device),
                      f"{prefix}_response_mask": ctx.tensor(response)})
    return batch


def _as_float(x, what: str) -> float:
    """The spec's "a dict of floats": Python floats (``.item()``), not tensors, which keep a graph alive."""
    if not isinstance(x, float):
        raise CheckFailed(f"dpo_step: {what} should be a Python float", expected="a float",
                          got=type(x).__name__, hint=f"return {what} as a Python number: .item() on the tensor")
    return x


def check_dpo_step(ctx: Context) -> dict:
    from grader.tiny_models import load_gpt2

    model, _, _ = load_gpt2(device=ctx.device)
    reference = model.to(ctx.dtype).requires_grad_(False)
    policy = copy.deepcopy(reference).requires_grad_(True)
    g = seeded(3)
    with torch.no_grad():  # policy != reference, so the reference log-probs matter
        for _, p in sorted(policy.named_parameters()):
            p.add_(0.05 * torch.randn(p.shape, generator=g).to(p.device, p.dtype))
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    ref_before = {n: p.detach().clone() for n, p in reference.named_parameters()}
    # Gradients must flow: a learner may (wrongly) re-enable them on the reference; we check below.
    reference.requires_grad_(True)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
    batch = step_batch(ctx, model.config.vocab_size)
    losses, metrics = [], []
    for _ in range(2):
        result = ctx.call("dpo_step", policy, reference, optimizer, batch, beta=BETA)
        if not isinstance(result, dict) or not {"loss", "reward_accuracy", "reward_margin"} <= set(result):
            raise CheckFailed("dpo_step must return a dict with loss, reward_accuracy and reward_margin",
                              got=repr(result)[:200])
        losses.append(_as_float(result["loss"], "loss"))
        metrics.append([_as_float(result[k], k) for k in ("reward_accuracy", "reward_margin")])
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in reference.parameters()) or any(
            not torch.equal(p, ref_before[n]) for n, p in reference.named_parameters()):
        raise CheckFailed("dpo_step: gradients reached the reference model", expected="no gradient on the reference",
                          got="reference parameters with .grad set", hint=MISTAKES["reference_gets_gradients"].hint,
                          mistake="reference_gets_gradients")
    if all(abs(loss - math.log(2)) < 1e-5 for loss in losses):  # the policy starts away from the reference
        raise CheckFailed("dpo_step: the loss is exactly log 2 at every step", expected="a loss that changes",
                          got=f"{losses}", hint="h is exactly 0, so the log-ratios cancel: the reference log-probs "
                          "must come from `reference` (not from the policy under no_grad), and the chosen and "
                          "rejected log-probs from their own sequences")
    # The update, projected on 8 fixed random directions: sensitive to any difference, small to store.
    delta = torch.cat([(p.detach() - before[n]).flatten().cpu().double() for n, p in sorted(policy.named_parameters())])
    directions = torch.randn(8, delta.numel(), generator=seeded(11), dtype=torch.float64)
    return {"step_losses": torch.tensor(losses), "step_metrics": torch.tensor(metrics),
            "update": directions @ delta}


# The tensor checks take milliseconds: an infinite loop there is stopped after 10 s, not 30.
CHECKS = (
    Check("sequence_logps", ("sequence_logps",), check_sequence_logps,
          "summed response log-probs: shift, masking of prompt and padding, gradient", points=2, timeout_s=10),
    Check("dpo_loss", ("dpo_loss",), check_dpo_loss,
          "per-pair losses, detached rewards, gradients, stability at extreme margins", points=3, timeout_s=10),
    Check("dpo_loss_variants", ("dpo_loss",), check_dpo_loss_variants,
          "label smoothing, IPO and hinge losses; unknown loss_type raises", points=1, timeout_s=10),
    Check("dpo_step", ("dpo_step", "sequence_logps", "dpo_loss"), check_dpo_step,
          "two DPO steps on the tiny GPT-2 against a frozen reference", points=2, timeout_s=60),
)
