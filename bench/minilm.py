"""A MiniLM-shaped sentence-transformers model made here, with random weights: the model part's embedder loads it
from a local folder, so no benchmark downloads anything.

What decides a server's cost per run is the model's shape, not what its weights learnt: the full size is
all-MiniLM-L6-v2's (a BERT of 6 layers, hidden size 384, 12 heads, intermediate size 1536, BERT's vocabulary of
30,522 entries, mean pooling; about 22.7 million parameters, 90 MB in float32). Its WordPiece tokenizer is trained
with the `tokenizers` library on text generated from a fixed, seeded vocabulary of made-up words, the same
vocabulary the requests are written in (`sentence`), so a request's words split into one or two word pieces
each, about as English words do with BERT's (30 words: about 45 tokens). The smoke size is a 2-layer BERT of
hidden size 64, which builds and loads in a second.

The folder is made once per size (in a child process, so the orchestrator never imports torch) and kept:

    python -m bench.minilm bench/.work/minilm/full --size full
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.processes import REPO

SEED = 7
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SYLLABLES = (  # noqa: SIM905 - one line reads better than 48 quoted syllables
    "ka ro mi ten sa lu ve dor pi na gel tru os an be ri fo zu hal me qui nor sel va "
    "tam ok ly ber cas dun e pho gri mal so ut wen bra ci lof ta re ni gu mor as zel fa"
).split()
MARKER = "bench-minilm.json"  # written last: a folder without it is an interrupted build, made again


@dataclass(frozen=True)
class Shape:
    """The BERT model's sizes."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the embedding matrix (at least the tokenizer's vocabulary)
    tokenizer_vocab: int  # what the WordPiece trainer aims for
    max_positions: int = 512
    max_seq_length: int = 256  # all-MiniLM-L6-v2's: longer inputs are cut


SHAPES = {
    "full": Shape(layers=6, hidden=384, heads=12, intermediate=1536, vocab_size=30_522, tokenizer_vocab=8000),
    "smoke": Shape(layers=2, hidden=64, heads=4, intermediate=256, vocab_size=2000, tokenizer_vocab=2000),
}


@functools.cache
def vocabulary(count: int = 10_000, seed: int = SEED) -> tuple[str, ...]:
    """`count` made-up words of one to four syllables, the same for every call with the same seed."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < count:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return tuple(sorted(words))


def sentence(words: int, seed: int = 0) -> str:
    """A request text of `words` words from the vocabulary: the same text for the same seed."""
    rng = random.Random(seed)
    return " ".join(rng.choices(vocabulary(), k=words))


def ensure(folder: Path, size: str) -> Path:
    """The saved model of `size` ("full" or "smoke") in `folder`, built in a child process if missing."""
    if _cached(folder, size):
        return folder
    finished = subprocess.run(
        [sys.executable, "-m", "bench.minilm", str(folder), "--size", size],
        capture_output=True,
        text=True,
        check=False,
        env=_offline_env(),
        cwd=REPO,
        timeout=600,
    )
    if finished.returncode != 0 or not _cached(folder, size):
        raise RuntimeError(
            f"building the {size} MiniLM model failed:\n{finished.stdout[-2000:]}{finished.stderr[-3000:]}"
        )
    return folder


def _cached(folder: Path, size: str) -> bool:
    marker = folder / MARKER
    try:
        return bool(json.loads(marker.read_text()) == {"size": size, **asdict(SHAPES[size])})
    except (OSError, ValueError):
        return False


def _offline_env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HAYSTACK_TELEMETRY_ENABLED": "false",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
    }


def build(folder: Path, size: str) -> None:
    """Train the tokenizer, make the model with seeded random weights and save both as a sentence-transformers
    folder; written beside `folder` and moved into place whole."""
    import torch  # type: ignore[import-untyped,unused-ignore]
    import transformers  # type: ignore[import-untyped,unused-ignore]
    from sentence_transformers import SentenceTransformer  # type: ignore[import-untyped,unused-ignore]
    from sentence_transformers.sentence_transformer.modules import (  # type: ignore[import-untyped,unused-ignore]
        Pooling,
        Transformer,
    )
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers import models as token_models

    shape = SHAPES[size]
    staging = folder.with_name(folder.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    raw = staging / "raw"

    words = vocabulary()
    rng = random.Random(SEED)
    corpus = (" ".join(rng.choices(words, k=rng.randint(8, 40))) for _ in range(20_000))
    tokenizer = Tokenizer(token_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=shape.tokenizer_vocab, special_tokens=SPECIAL_TOKENS)
    tokenizer.train_from_iterator(corpus, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    # BERT's fast tokenizer over ours (in transformers 5 `BertTokenizerFast` is `BertTokenizer`, tokenizers-backed).
    fast = transformers.BertTokenizerFast  # type: ignore[attr-defined,unused-ignore]
    wrapped = fast(tokenizer_object=tokenizer, model_max_length=shape.max_seq_length)

    torch.manual_seed(SEED)
    config = transformers.BertConfig(
        vocab_size=max(shape.vocab_size, tokenizer.get_vocab_size()),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions,
    )
    transformers.BertModel(config).save_pretrained(raw)
    wrapped.save_pretrained(raw)

    transformer = Transformer(str(raw), max_seq_length=shape.max_seq_length)
    model = SentenceTransformer(modules=[transformer, Pooling(shape.hidden, "mean")], device="cpu")
    model.save(str(staging / "model"))
    (staging / "model" / MARKER).write_text(json.dumps({"size": size, **asdict(shape)}))
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    (staging / "model").rename(folder)
    shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.minilm", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", choices=sorted(SHAPES), default="full")
    args = parser.parse_args(argv)
    build(args.folder, args.size)
    print(f"{args.size} model in {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
