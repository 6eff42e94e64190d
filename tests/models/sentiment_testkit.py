"""A tiny BERT sequence classifier saved like a hub model (own vocab, save_pretrained), so
tests load it through exactly the path FinBERT takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import torch

WORDS = (
    "the a an of to in on and for is are was with by at as it its shares stock stocks market "
    "apple microsoft exxon walmart revenue profit profits loss losses beat beats miss misses "
    "record strong weak rise rises rose fall falls fell growth slump surge plunge upgrade "
    "downgrade guidance raises cuts quarter earnings sales demand bank rates buy sell all key "
    "year new high low jobs chip chips oil price prices"
).split()
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
FINBERT_ORDER = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order


def make_tiny_finbert(
    folder: Path,
    id2label: Mapping[int, str] = FINBERT_ORDER,
    *,
    seed: int = 0,
    permute_from: Path | None = None,
) -> Path:
    """Save a 2-layer, 32-wide BERT classifier with its own WordPiece vocab to ``folder``.

    ``permute_from``: copy that saved model's weights, re-ordering the classifier rows so
    that label *names* keep their meaning under the new ``id2label`` order.
    """
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = [*SPECIAL, *WORDS, *"abcdefghijklmnopqrstuvwxyz0123456789", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"), *".,!?$%'&-"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    label2id = {name: int(i) for i, name in id2label.items()}
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=3, initializer_range=0.2,
        id2label=dict(id2label), label2id=label2id,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    if permute_from is not None:
        source = BertForSequenceClassification.from_pretrained(permute_from)
        state = source.state_dict()
        old = {name.lower(): int(i) for i, name in source.config.id2label.items()}
        order = [old[str(id2label[i]).lower()] for i in range(3)]
        state["classifier.weight"] = state["classifier.weight"][order]
        state["classifier.bias"] = state["classifier.bias"][order]
        model.load_state_dict(state)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Two OpenMP threads on a shared 2-core machine spin against each other (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
