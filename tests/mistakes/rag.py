"""Realistic wrong implementations for the RAG exercise, keyed by catalogue id: each is the reference with one
slip, standing in for the learner function its catalogue entry names."""

import html
import math
import re
from collections import Counter

import torch

from tests.reference import solution

REF = solution("rag")
l2_normalize, mean_pool = REF["l2_normalize"], REF["mean_pool"]
format_prompt, SOURCE, INJECTION_PATTERNS = REF["format_prompt"], REF["SOURCE"], REF["INJECTION_PATTERNS"]


# --- chunk -----------------------------------------------------------------------------------

def _validate(size, overlap):
    if not 0 <= overlap < size:
        raise ValueError("need 0 <= overlap < size")


def tail_inside_previous(tokens, size, overlap):
    _validate(size, overlap)
    return [list(tokens[s:s + size]) for s in range(0, len(tokens), size - overlap)]


def drops_the_tail(tokens, size, overlap):
    _validate(size, overlap)
    return [list(tokens[s:s + size]) for s in range(0, len(tokens) - size + 1, size - overlap)]


def ignores_overlap(tokens, size, overlap):
    _validate(size, overlap)
    return [list(tokens[s:s + size]) for s in range(0, len(tokens), size)]


# --- mean_pool -------------------------------------------------------------------------------

def mean_over_padding(hidden, attention_mask):
    return hidden.mean(1)


def sum_not_mean(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1).to(hidden.dtype)).sum(1)


def divided_by_length(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1).to(hidden.dtype)).sum(1) / hidden.shape[1]


def count_over_batch(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum().clamp(min=1)


def cls_pooling(hidden, attention_mask):
    return hidden[:, 0]


def max_pooling(hidden, attention_mask):
    masked = hidden.masked_fill(attention_mask.unsqueeze(-1) == 0, float("-inf")).max(1).values
    return torch.where(torch.isinf(masked), torch.zeros_like(masked), masked)


def no_clamp(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


# --- l2_normalize ----------------------------------------------------------------------------

def wrong_dim(x, eps=1e-12):
    return x / x.norm(dim=1, keepdim=True).clamp(min=eps)


def l1_norm(x, eps=1e-12):
    return x / x.abs().sum(-1, keepdim=True).clamp(min=eps)


def squared_norm(x, eps=1e-12):
    return x / (x ** 2).sum(-1, keepdim=True).clamp(min=eps)


def eps_added(x, eps=1e-12):
    return x / (x.norm(dim=-1, keepdim=True) + eps)


def no_eps(x, eps=1e-12):
    return x / x.norm(dim=-1, keepdim=True)


# --- embed -----------------------------------------------------------------------------------

def _encode(texts, model, tokenizer):
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(next(model.parameters()).device)
    return batch


def attention_mask_not_passed(texts, model, tokenizer):
    batch = _encode(texts, model, tokenizer)
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"]).last_hidden_state
    return l2_normalize(mean_pool(hidden, batch["attention_mask"]))


def not_normalized(texts, model, tokenizer):
    batch = _encode(texts, model, tokenizer)
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def cls_embedding(texts, model, tokenizer):
    batch = _encode(texts, model, tokenizer)
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return l2_normalize(hidden[:, 0])


def pooler_output(texts, model, tokenizer):
    batch = _encode(texts, model, tokenizer)
    with torch.no_grad():
        pooled = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
    return l2_normalize(pooled)


# --- cosine_top_k ----------------------------------------------------------------------------

def _similarity(queries, docs):
    return l2_normalize(queries) @ l2_normalize(docs).T


def dot_not_cosine(queries, docs, k):
    top = torch.sort(queries @ docs.T, descending=True, stable=True)
    return top.values[:, :k], top.indices[:, :k]


def ascending(queries, docs, k):
    top = torch.sort(_similarity(queries, docs), stable=True)
    return top.values[:, :k], top.indices[:, :k]


def ties_reversed(queries, docs, k):
    sims = _similarity(queries, docs)
    order = torch.argsort(sims, dim=-1, stable=True).flip(-1)[:, :k]
    return sims.gather(-1, order), order


def topk_ties(queries, docs, k):
    sims = _similarity(queries, docs)
    return torch.topk(sims, min(k, sims.shape[-1]))


def k_not_clamped(queries, docs, k):
    return torch.topk(_similarity(queries, docs), k)


# --- bm25_scores -----------------------------------------------------------------------------

def _bm25(query, docs, k1, b, *, idf=None, tf_of=None, norm_of=None, numerator=None, df=None, terms=None):
    n_docs = len(docs)
    avgdl = sum(len(d) for d in docs) / n_docs
    df = df or Counter(t for d in docs for t in set(d))
    idf = idf or (lambda n: math.log(1 + (n_docs - n + 0.5) / (n + 0.5)))
    scores = torch.zeros(n_docs, dtype=torch.float64)
    for i, d in enumerate(docs):
        tf = Counter(d)
        norm = norm_of(d) if norm_of else k1 * (1 - b + b * len(d) / avgdl)
        for term in (terms(query) if terms else query):
            if tf[term]:
                f = tf_of(tf[term]) if tf_of else tf[term]
                top = numerator(f) if numerator else f * (k1 + 1)
                scores[i] += idf(df[term]) * top / (f + norm)
    return scores


def robertson_idf(query, docs, k1=1.5, b=0.75):
    n = len(docs)
    return _bm25(query, docs, k1, b, idf=lambda df: math.log((n - df + 0.5) / (df + 0.5)))


def idf_log_n_over_df(query, docs, k1=1.5, b=0.75):
    n = len(docs)
    return _bm25(query, docs, k1, b, idf=lambda df: math.log(n / df))


def query_terms_deduplicated(query, docs, k1=1.5, b=0.75):
    return _bm25(query, docs, k1, b, terms=lambda q: list(dict.fromkeys(q)))


def binary_tf(query, docs, k1=1.5, b=0.75):
    return _bm25(query, docs, k1, b, tf_of=lambda f: 1)


def no_length_normalisation(query, docs, k1=1.5, b=0.75):
    return _bm25(query, docs, k1, b, norm_of=lambda d: k1)


def without_k1_plus_1(query, docs, k1=1.5, b=0.75):
    return _bm25(query, docs, k1, b, numerator=lambda f: f)


def df_counts_occurrences(query, docs, k1=1.5, b=0.75):
    return _bm25(query, docs, k1, b, df=Counter(t for d in docs for t in d))


# --- rrf_scores ------------------------------------------------------------------------------

def _ranks(scores, descending=True, stable=True):
    n = scores.shape[0]
    order = torch.sort(scores.cpu(), descending=descending, stable=stable).indices
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = torch.arange(1, n + 1, dtype=torch.float64)
    return ranks


def argsort_as_rank(score_lists, k=60.0):
    fused = torch.zeros(score_lists[0].shape[0], dtype=torch.float64)
    for s in score_lists:
        fused += 1.0 / (k + torch.argsort(s, descending=True, stable=True).double() + 1)
    return fused


def rank_from_zero(score_lists, k=60.0):
    return sum(1.0 / (k + _ranks(s) - 1) for s in score_lists)


def ranks_ascending(score_lists, k=60.0):
    return sum(1.0 / (k + _ranks(s, descending=False)) for s in score_lists)


def no_k(score_lists, k=60.0):
    return sum(1.0 / _ranks(s) for s in score_lists)


def ties_unstable(score_lists, k=60.0):
    return sum(1.0 / (k + _ranks(s, stable=False)) for s in score_lists)


def ties_averaged(score_lists, k=60.0):
    fused = torch.zeros(score_lists[0].shape[0], dtype=torch.float64)
    for s in score_lists:
        ranks = _ranks(s)
        for value in torch.unique(s):
            tied = s == value
            ranks[tied] = ranks[tied].mean()
        fused += 1.0 / (k + ranks)
    return fused


def scores_summed(score_lists, k=60.0):
    return sum(s.double() for s in score_lists)


# --- find_injections -------------------------------------------------------------------------

def case_sensitive(passages):
    return [i for i, t in enumerate(passages) if any(re.search(p, t) for p in INJECTION_PATTERNS)]


def match_not_search(passages):
    return [i for i, t in enumerate(passages) if any(re.match(p, t, flags=re.IGNORECASE) for p in INJECTION_PATTERNS)]


def all_not_any(passages):
    return [i for i, t in enumerate(passages) if all(re.search(p, t, flags=re.IGNORECASE) for p in INJECTION_PATTERNS)]


# --- build_prompt ----------------------------------------------------------------------------

def _prompt(question, passages, count_tokens, budget, *, fits=None, stop=False, cut=False, escape=True,
            number=None, measure=None):
    if count_tokens(format_prompt(question, [])) > budget:
        raise ValueError("over budget")
    fits = fits or (lambda used: used <= budget)
    blocks, included = [], []
    for i, text in enumerate(passages):
        body = html.escape(text, quote=False) if escape else text
        n = number(i, blocks) if number else len(blocks) + 1
        block = SOURCE.format(n=n, text=body)
        used = measure(blocks + [block]) if measure else count_tokens(format_prompt(question, [*blocks, block]))
        if fits(used):
            blocks.append(block)
            included.append(i)
        elif cut:
            words = body.split()
            while words and count_tokens(format_prompt(question, [*blocks, SOURCE.format(n=n, text=" ".join(words))])) > budget:
                words.pop()
            if words:
                blocks.append(SOURCE.format(n=n, text=" ".join(words)))
                included.append(i)
            break
        elif stop:
            break
    return format_prompt(question, blocks), included


def strict_budget(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, fits=lambda used: used < budget)


def stops_at_first_overflow(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, stop=True)


def cuts_passage(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, cut=True)


def not_escaped(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, escape=False)


def numbered_by_rank(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, number=lambda i, blocks: i + 1)


def budget_for_sources_only(question, passages, count_tokens, budget):
    return _prompt(question, passages, count_tokens, budget, measure=lambda blocks: sum(count_tokens(b) for b in blocks))


# --- recall_at_k and mrr ---------------------------------------------------------------------

def hit_rate(retrieved, gold, k):
    return sum(bool(set(g) & set(r[:k])) for r, g in zip(retrieved, gold)) / len(retrieved)


def precision_at_k(retrieved, gold, k):
    return sum(len(set(g) & set(r[:k])) / k for r, g in zip(retrieved, gold)) / len(retrieved)


def micro_average(retrieved, gold, k):
    return sum(len(set(g) & set(r[:k])) for r, g in zip(retrieved, gold)) / sum(len(set(g)) for g in gold)


def _reciprocal_ranks(retrieved, gold, first=True, cutoff=None):
    out = []
    for ranked, relevant in zip(retrieved, gold):
        value = 0.0
        for rank, doc in enumerate(ranked[:cutoff], start=1):
            if doc in set(relevant):
                value += 1.0 / rank
                if first:
                    break
        out.append(value)
    return out


def mean_over_found(retrieved, gold):
    rr = _reciprocal_ranks(retrieved, gold)
    found = sum(1 for v in rr if v > 0)
    return sum(rr) / found if found else 0.0


def all_relevant_summed(retrieved, gold):
    rr = _reciprocal_ranks(retrieved, gold, first=False)
    return sum(rr) / len(rr)


def mrr_at_10(retrieved, gold):
    rr = _reciprocal_ranks(retrieved, gold, cutoff=10)
    return sum(rr) / len(rr)
