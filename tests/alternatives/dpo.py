"""Alternative correct DPO implementations: softplus form, float64, loops, cross-entropy gather."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("dpo")


def sequence_logps_cross_entropy(logits, input_ids, response_mask):
    """Token log-probs as minus the per-token cross-entropy, in float32 or float64."""
    B, T, V = logits.shape
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), input_ids[:, 1:].reshape(-1), reduction="none")
    return -(nll.view(B, T - 1) * response_mask[:, 1:]).sum(-1)


def sequence_logps_loops(logits, input_ids, response_mask):
    """Explicit loops over the batch and positions."""
    logits = logits.float() if logits.element_size() < 4 else logits
    out = []
    for b in range(logits.shape[0]):
        total = logits.new_zeros(())
        for t in range(1, logits.shape[1]):
            if response_mask[b, t] > 0:
                total = total + torch.log_softmax(logits[b, t - 1], -1)[input_ids[b, t]]
        out.append(total)
    return torch.stack(out)


def dpo_loss_softplus(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    """-log sigma(z) = softplus(-z), computed in float64."""
    h = ((pc.double() - rc.double()) - (pr.double() - rr.double()))
    if loss_type == "sigmoid":
        losses = (1 - label_smoothing) * F.softplus(-beta * h) + label_smoothing * F.softplus(beta * h)
    elif loss_type == "ipo":
        losses = (h - 1 / (2 * beta)) ** 2
    elif loss_type == "hinge":
        losses = torch.clamp(1 - beta * h, min=0)
    else:
        raise ValueError(loss_type)
    chosen = (beta * (pc - rc)).detach()
    rejected = (beta * (pr - rr)).detach()
    return losses.to(pc.dtype), chosen, rejected


def dpo_loss_loop(pc, pr, rc, rr, beta=0.1, label_smoothing=0.0, loss_type="sigmoid"):
    """Pair by pair, with torch.where-free scalar maths."""
    losses = []
    for i in range(pc.shape[0]):
        h = (pc[i] - rc[i]) - (pr[i] - rr[i])
        if loss_type == "sigmoid":
            losses.append(-(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h))
        elif loss_type == "ipo":
            losses.append((h - 1 / (2 * beta)) ** 2)
        elif loss_type == "hinge":
            losses.append(F.relu(1 - beta * h))
        else:
            raise ValueError(loss_type)
    with torch.no_grad():
        chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    return torch.stack(losses), chosen, rejected


def dpo_step_concatenated(policy, reference, optimizer, batch, beta=0.1):
    """One forward pass over chosen and rejected together (as TRL's concatenated_forward does),
    zero_grad after the step, reference in eval mode."""
    sequence_logps, dpo_loss = REF["sequence_logps"], REF["dpo_loss"]
    width = max(batch["chosen_input_ids"].shape[1], batch["rejected_input_ids"].shape[1])

    def pad(x):
        return F.pad(x, (0, width - x.shape[1]))

    ids = torch.cat([pad(batch["chosen_input_ids"]), pad(batch["rejected_input_ids"])])
    attention = torch.cat([pad(batch["chosen_attention_mask"]), pad(batch["rejected_attention_mask"])])
    response = torch.cat([pad(batch["chosen_response_mask"]), pad(batch["rejected_response_mask"])])
    n = batch["chosen_input_ids"].shape[0]
    policy_logps = sequence_logps(policy(input_ids=ids, attention_mask=attention).logits, ids, response)
    reference.eval()
    with torch.no_grad():
        ref_logps = sequence_logps(reference(input_ids=ids, attention_mask=attention).logits, ids, response)
    losses, chosen, rejected = dpo_loss(policy_logps[:n], policy_logps[n:], ref_logps[:n], ref_logps[n:], beta)
    loss = losses.mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": float(loss.detach()), "reward_accuracy": (chosen > rejected).float().mean().item(),
            "reward_margin": (chosen - rejected).mean().item()}


ALTERNATIVES = {
    "sequence_logps": [sequence_logps_cross_entropy, sequence_logps_loops],
    "dpo_loss": [dpo_loss_softplus, dpo_loss_loop],
    "dpo_step": [dpo_step_concatenated],
}
