"""Alternative correct RAG implementations: arithmetic instead of a loop, einsum, F.normalize, Python sorts with an
explicit tie key, a term-document matrix for BM25, a dict for RRF, one combined regex, manual escaping."""

import math
import re
from collections import Counter

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("rag")


def chunk_arithmetic(tokens, size, overlap):
    """The number of chunks first: 1 + ceil((len - size) / stride) for a document longer than a window."""
    if overlap < 0 or overlap >= size:
        raise ValueError("overlap must be in [0, size)")
    if not tokens:
        return []
    stride = size - overlap
    count = 1 + max(0, math.ceil((len(tokens) - size) / stride))
    return [tokens[j * stride: j * stride + size] for j in range(count)]


def mean_pool_einsum(hidden, attention_mask):
    """In float64, then back to the hidden states' dtype."""
    mask = attention_mask.to(torch.float64)
    summed = torch.einsum("bth,bt->bh", hidden.double(), mask)
    return (summed / torch.clamp(mask.sum(-1, keepdim=True), min=1.0)).to(hidden.dtype)


def mean_pool_rows(hidden, attention_mask):
    """Row by row, selecting the real positions."""
    rows = []
    for h, m in zip(hidden, attention_mask):
        real = h[m.bool()]
        rows.append(real.mean(0) if len(real) else h.new_zeros(h.shape[-1]))
    return torch.stack(rows)


def l2_normalize_functional(x, eps=1e-12):
    return F.normalize(x, p=2.0, dim=-1, eps=eps)


def l2_normalize_sqrt(x, eps=1e-12):
    length = torch.sqrt((x * x).sum(dim=-1, keepdim=True))
    return x / torch.maximum(length, torch.full_like(length, eps))


def embed_minibatches(texts, model, tokenizer):
    """Two texts per forward pass, the tokenizer's whole output passed to the model, pooling inline."""
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 2):
            batch = tokenizer(texts[start:start + 2], padding="longest", truncation=True, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1))
    return torch.cat(out).clone()


def cosine_top_k_python_sort(queries, docs, k):
    """F.cosine_similarity, then Python's sort with the key (-score, index)."""
    sims = F.cosine_similarity(queries.unsqueeze(1), docs.unsqueeze(0), dim=-1)
    rows = [sorted(range(docs.shape[0]), key=lambda j, row=row: (-row[j].item(), j))[:k] for row in sims]
    indices = torch.tensor(rows, dtype=torch.long, device=sims.device).view(queries.shape[0], min(k, docs.shape[0]))
    return sims.gather(1, indices), indices


def bm25_matrix(query, docs, k1=1.5, b=0.75):
    """A term-document count matrix and vectorised IDF and saturation."""
    vocab = sorted({t for d in docs for t in d})
    column = {t: j for j, t in enumerate(vocab)}
    counts = torch.zeros(len(docs), max(len(vocab), 1), dtype=torch.float64)
    for i, d in enumerate(docs):
        for t in d:
            counts[i, column[t]] += 1
    lengths = counts.sum(1)
    n = (counts > 0).sum(0).double()
    idf = torch.log1p((len(docs) - n + 0.5) / (n + 0.5))
    tf_part = counts * (k1 + 1) / (counts + k1 * (1 - b + b * lengths / lengths.mean()).unsqueeze(1))
    weights = torch.zeros(counts.shape[1], dtype=torch.float64)
    for t, c in Counter(query).items():
        if t in column:
            weights[column[t]] = c
    return tf_part @ (weights * idf)


def rrf_dict(score_lists, k=60.0):
    """Ranks from Python's sort with the key (-score, index), fused in a dict."""
    n = len(score_lists[0])
    fused = {i: 0.0 for i in range(n)}
    for scores in score_lists:
        values = scores.tolist()
        for rank, i in enumerate(sorted(range(n), key=lambda j: (-values[j], j)), start=1):
            fused[i] += 1 / (k + rank)
    return torch.tensor([fused[i] for i in range(n)], dtype=torch.float64)


def find_injections_combined(passages):
    combined = re.compile("|".join(f"(?:{p})" for p in REF["INJECTION_PATTERNS"]), re.IGNORECASE)
    return [i for i, text in enumerate(passages) if combined.search(text) is not None]


def build_prompt_manual_escape(question, passages, count_tokens, budget):
    """Escaping by hand (& first), the candidate prompt built before the test."""
    format_prompt, source = REF["format_prompt"], REF["SOURCE"]
    empty = format_prompt(question, [])
    if count_tokens(empty) > budget:
        raise ValueError("no room for the prompt itself")
    blocks, included = [], []
    for i, text in enumerate(passages):
        safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        candidate = blocks + [source.format(n=len(included) + 1, text=safe)]
        if not count_tokens(format_prompt(question, candidate)) > budget:
            blocks, included = candidate, included + [i]
    return format_prompt(question, blocks), included


def recall_at_k_comprehension(retrieved, gold, k):
    per_question = [sum(d in set(ranked[:k]) for d in set(relevant)) / len(set(relevant))
                    for ranked, relevant in zip(retrieved, gold)]
    return float(sum(per_question) / len(per_question))


def mrr_next(retrieved, gold):
    ranks = [next((r for r, d in enumerate(ranked, 1) if d in relevant), None) for ranked, relevant in zip(retrieved, gold)]
    return sum(1 / r for r in ranks if r) / len(ranks)


ALTERNATIVES = {
    "chunk": [chunk_arithmetic],
    "mean_pool": [mean_pool_einsum, mean_pool_rows],
    "l2_normalize": [l2_normalize_functional, l2_normalize_sqrt],
    "embed": [embed_minibatches],
    "cosine_top_k": [cosine_top_k_python_sort],
    "bm25_scores": [bm25_matrix],
    "rrf_scores": [rrf_dict],
    "find_injections": [find_injections_combined],
    "build_prompt": [build_prompt_manual_escape],
    "recall_at_k": [recall_at_k_comprehension],
    "mrr": [mrr_next],
}
