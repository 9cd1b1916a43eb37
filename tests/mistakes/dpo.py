"""Realistic wrong implementations for the DPO exercise, keyed by catalogue id."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("dpo")
sequence_logps, dpo_loss = REF["sequence_logps"], REF["dpo_loss"]


# --- sequence_logps ---------------------------------------------------------------------------

def _gather(logprobs, ids):
    return logprobs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def _upcast(f):
    """Each mistake is the reference with one slip, so it upcasts bfloat16 logits as the reference does."""
    def wrapped(logits, input_ids, response_mask):
        return f(logits.float() if logits.dtype == torch.bfloat16 else logits, input_ids, response_mask)
    return wrapped


@_upcast
def no_shift(logits, input_ids, response_mask):
    return (_gather(torch.log_softmax(logits, -1), input_ids) * response_mask).sum(-1)


@_upcast
def shift_backwards(logits, input_ids, response_mask):
    return (_gather(torch.log_softmax(logits[:, 1:], -1), input_ids[:, :-1]) * response_mask[:, :-1]).sum(-1)


@_upcast
def mask_not_shifted(logits, input_ids, response_mask):
    return (_gather(torch.log_softmax(logits[:, :-1], -1), input_ids[:, 1:]) * response_mask[:, :-1]).sum(-1)


@_upcast
def mask_ignored(logits, input_ids, response_mask):
    return _gather(torch.log_softmax(logits[:, :-1], -1), input_ids[:, 1:]).sum(-1)


@_upcast
def mean_not_sum(logits, input_ids, response_mask):
    token = _gather(torch.log_softmax(logits[:, :-1], -1), input_ids[:, 1:])
    return (token * response_mask[:, 1:]).sum(-1) / response_mask[:, 1:].sum(-1)


def log_softmax_in_bf16(logits, input_ids, response_mask):
    token = _gather(torch.log_softmax(logits[:, :-1], -1), input_ids[:, 1:])
    return (token * response_mask[:, 1:]).sum(-1).float()


@_upcast
def raw_logits(logits, input_ids, response_mask):
    return (_gather(logits[:, :-1], input_ids[:, 1:]) * response_mask[:, 1:]).sum(-1)


# --- dpo_loss ---------------------------------------------------------------------------------

def _rewards(pc, pr, rc, rr, beta):
    return beta * (pc - rc).detach(), beta * (pr - rr).detach()


def _losses(h, beta, label_smoothing, loss_type):
    if loss_type == "ipo":
        return (h - 1 / (2 * beta)) ** 2
    if loss_type == "hinge":
        return torch.relu(1 - beta * h)
    if loss_type != "sigmoid":
        raise ValueError(loss_type)
    return -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)


def missing_minus(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    losses = -_losses(h, beta, label_smoothing, loss_type) if loss_type == "sigmoid" else _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def swapped_chosen_rejected(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pr - rr) - (pc - rc)
    return (_losses(h, beta, label_smoothing, loss_type), *_rewards(pc, pr, rc, rr, beta))


def ratio_inverted(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (rc - pc) - (rr - pr)
    return (_losses(h, beta, label_smoothing, loss_type), beta * (rc - pc).detach(), beta * (rr - pr).detach())


def beta_outside(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    losses = -beta * F.logsigmoid(h) if loss_type == "sigmoid" else _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def no_beta(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    losses = -F.logsigmoid(h) if loss_type == "sigmoid" else _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def reference_ignored(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    return (_losses(pc - pr, beta, label_smoothing, loss_type), beta * pc.detach(), beta * pr.detach())


def log_sigmoid_overflow(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    if loss_type == "sigmoid":
        losses = (-(1 - label_smoothing) * torch.log(torch.sigmoid(beta * h))
                  - label_smoothing * torch.log(torch.sigmoid(-beta * h)))
    else:
        losses = _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def rewards_not_detached(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    return _losses(h, beta, label_smoothing, loss_type), beta * (pc - rc), beta * (pr - rr)


def rewards_without_beta(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    return _losses(h, beta, label_smoothing, loss_type), (pc - rc).detach(), (pr - rr).detach()


def smoothing_in_ipo_hinge(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    if loss_type in ("ipo", "hinge"):
        base = _losses(h, beta, 0.0, loss_type)
        losses = (1 - label_smoothing) * base + label_smoothing * _losses(-h, beta, 0.0, loss_type)
    else:
        losses = _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def label_smoothing_swapped(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    if loss_type == "sigmoid":
        losses = -label_smoothing * F.logsigmoid(beta * h) - (1 - label_smoothing) * F.logsigmoid(-beta * h)
        if label_smoothing == 0.0:
            losses = -F.logsigmoid(beta * h)
    else:
        losses = _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def ipo_wrong_target(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    losses = (h - 1 / beta) ** 2 if loss_type == "ipo" else _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


def hinge_without_beta(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    h = (pc - rc) - (pr - rr)
    losses = torch.relu(1 - h) if loss_type == "hinge" else _losses(h, beta, label_smoothing, loss_type)
    return (losses, *_rewards(pc, pr, rc, rr, beta))


# --- dpo_step ---------------------------------------------------------------------------------

def _logps(model, batch, prefix):
    ids = batch[f"{prefix}_input_ids"]
    logits = model(input_ids=ids, attention_mask=batch[f"{prefix}_attention_mask"]).logits
    return sequence_logps(logits, ids, batch[f"{prefix}_response_mask"])


def _metrics(loss, chosen, rejected, ties_win=False):
    wins = chosen >= rejected if ties_win else chosen > rejected
    return {"loss": loss.item(), "reward_accuracy": wins.float().mean().item(),
            "reward_margin": (chosen - rejected).mean().item()}


def _step(policy, reference, optimizer, batch, beta, *, ref_grad=False, zero=True, reduce="mean", ties_win=False):
    pc, pr = _logps(policy, batch, "chosen"), _logps(policy, batch, "rejected")
    with torch.set_grad_enabled(ref_grad):
        rc, rr = _logps(reference, batch, "chosen"), _logps(reference, batch, "rejected")
    losses, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta)
    loss = losses.mean() if reduce == "mean" else losses.sum()
    if zero:
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return _metrics(loss, chosen, rejected, ties_win)


def reference_gets_gradients(policy, reference, optimizer, batch, beta=0.1):
    return _step(policy, reference, optimizer, batch, beta, ref_grad=True)


def no_zero_grad(policy, reference, optimizer, batch, beta=0.1):
    return _step(policy, reference, optimizer, batch, beta, zero=False)


def loss_summed(policy, reference, optimizer, batch, beta=0.1):
    return _step(policy, reference, optimizer, batch, beta, reduce="sum")


def zero_grad_after_backward(policy, reference, optimizer, batch, beta=0.1):
    pc, pr = _logps(policy, batch, "chosen"), _logps(policy, batch, "rejected")
    with torch.no_grad():
        rc, rr = _logps(reference, batch, "chosen"), _logps(reference, batch, "rejected")
    losses, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta)
    loss = losses.mean()
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return _metrics(loss, chosen, rejected)


def metrics_ties_counted(policy, reference, optimizer, batch, beta=0.1):
    return _step(policy, reference, optimizer, batch, beta, ties_win=True)


def metrics_after_update(policy, reference, optimizer, batch, beta=0.1):
    _step(policy, reference, optimizer, batch, beta)
    with torch.no_grad():  # the rewards again, from the updated policy
        pc, pr = _logps(policy, batch, "chosen"), _logps(policy, batch, "rejected")
        rc, rr = _logps(reference, batch, "chosen"), _logps(reference, batch, "rejected")
        losses, chosen, rejected = dpo_loss(pc, pr, rc, rr, beta)
    return _metrics(losses.mean(), chosen, rejected)


def step_beta_ignored(policy, reference, optimizer, batch, beta=0.1):
    return _step(policy, reference, optimizer, batch, 0.1)
