"""Sentiment scoring throughput on the CPU for a FinBERT-shaped model (not a test).

BERT-base (12 layers, hidden 768, 110M parameters) with random weights: the same compute
as ProsusAI/finbert, which cannot be downloaded here. Texts go through the real scorer
(``FinbertScorer``: tokenise, length-bucket, pad per batch, softmax, labels by name):

- ``fixed64``: every text exactly 64 tokens (the issue's baseline shape);
- ``headlines``: a realistic headline length distribution (words ~ lognormal, median 11,
  clipped 3..40; one token per word here, + [CLS]/[SEP]), truncated at 64.

Variants: fp32 eager, int8 dynamic (torch), ONNX Runtime int8 (its own quantisation). They
run interleaved, round after round, so a load change on this shared machine hits all of
them alike; ``uptime`` is recorded with every measurement. Besides wall-clock texts/s the
script reports texts per CPU-second of this process, which depends less on what else the
machine runs (with 2 threads, spinning OpenMP threads inflate it a little). Each variant's
largest probability difference from fp32 on the same texts is reported.

Run: ``.venv/bin/python bench/sentiment_throughput.py [--threads 2] [--rounds 3]``; writes
``bench/out/sentiment_throughput.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from models.sentiment.finbert import FinbertScorer, quantize_int8
from models.sentiment.onnx import OnnxClassifier

VOCAB = 30522


def bert_base(folder: Path):  # noqa: ANN201
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    words = [f"w{i}" for i in range(VOCAB - 5)]
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(num_labels=3, id2label={0: "positive", 1: "negative", 2: "neutral"},
                        label2id={"positive": 0, "negative": 1, "neutral": 2}, attn_implementation="eager")
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    return tokenizer, model


def texts(kind: str, n: int, rng: np.random.Generator) -> list[str]:
    if kind == "fixed64":
        lengths = np.full(n, 62)  # + [CLS] and [SEP] = 64
    else:
        lengths = np.clip(np.round(rng.lognormal(np.log(11), 0.45, n)), 3, 40).astype(int)
    return [" ".join(f"w{i}" for i in rng.integers(0, VOCAB - 5, k)) for k in lengths]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--texts", type=int, default=64, help="texts per measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    load_before = uptime()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer, model = bert_base(Path(tmp))
        params = sum(p.numel() for p in model.parameters())
        onnx = OnnxClassifier.build(model, tokenizer, Path(tmp) / "onnx", threads=args.threads)
        print(f"built; {uptime()}", flush=True)
        variants = {
            "fp32": (FinbertScorer(tokenizer, model, name="fp32", device="cpu"), {"fixed64": 32, "headlines": 32}),
            "int8 dynamic": (FinbertScorer(tokenizer, quantize_int8(model), name="int8", device="cpu"),
                             {"fixed64": 8, "headlines": 16}),
            "ONNX Runtime int8": (FinbertScorer(tokenizer, onnx, name="onnx"), {"fixed64": 8, "headlines": 16}),
        }
        samples = {kind: texts(kind, args.texts, rng) for kind in ("fixed64", "headlines")}
        token_counts = [len(e["input_ids"]) for e in variants["fp32"][0].encode(samples["headlines"], 64)]
        reference = {kind: variants["fp32"][0].probabilities(s, 64) for kind, s in samples.items()}
        rates: dict[tuple[str, str], list[float]] = {}
        per_cpu: dict[tuple[str, str], list[float]] = {}
        diffs: dict[tuple[str, str], float] = {}
        for _ in range(args.rounds):
            for kind, sample in samples.items():
                for name, (scorer, batch) in variants.items():
                    scorer.batch_size = batch[kind]
                    start, cpu = time.perf_counter(), time.process_time()
                    probs = scorer.probabilities(sample, 64)
                    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                    rates.setdefault((kind, name), []).append(len(sample) / wall)
                    per_cpu.setdefault((kind, name), []).append(len(sample) / cpu)
                    diffs[(kind, name)] = float(np.abs(probs - reference[kind]).max())
                    print(f"{kind:<9} {name:<18} {len(sample) / wall:7.1f} texts/s wall, "
                          f"{len(sample) / cpu:7.1f} per CPU-s; {uptime()}", flush=True)
    load_after = uptime()
    rows = []
    for (kind, name), values in rates.items():
        base = statistics.median(rates[(kind, "fp32")])
        rows.append({"lengths": kind, "variant": name, "batch": variants[name][1][kind],
                     "texts_per_s": round(statistics.median(values), 1), "runs": [round(v, 1) for v in values],
                     "vs_fp32": round(statistics.median(values) / base, 2), "max_prob_diff": diffs[(kind, name)],
                     "texts_per_cpu_s": round(statistics.median(per_cpu[(kind, name)]), 1)})
    result = {"params": params, "threads": args.threads, "texts_per_run": args.texts, "rounds": args.rounds,
              "headline_tokens": {"mean": float(np.mean(token_counts)), "p50": float(np.median(token_counts)),
                                  "p95": float(np.percentile(token_counts, 95))},
              "uptime_before": load_before, "uptime_after": load_after, "rows": rows}
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "sentiment_throughput.json").write_text(json.dumps(result, indent=2))
    print(f"BERT-base {params:,} params, {args.threads} threads; before: {load_before}; after: {load_after}")
    print("| lengths | variant | batch | texts/s wall (median) | runs | vs fp32 | texts per CPU-s | max prob diff |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['lengths']} | {r['variant']} | {r['batch']} | {r['texts_per_s']} | {r['runs']} | "
              f"{r['vs_fp32']}× | {r['texts_per_cpu_s']} | {r['max_prob_diff']:.4f} |")


if __name__ == "__main__":
    main()
