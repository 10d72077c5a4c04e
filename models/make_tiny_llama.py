"""Generate the tiny random Llama used by real-vLLM tests: no downloads, deterministic.

Writes ``models/tiny-llama/`` (config, safetensors weights, a byte-level BPE tokenizer
trained here on generated text). Runs at set-up; does nothing when the model already
exists with the same recipe. Needs ``transformers``, ``tokenizers`` and ``torch`` (the
vLLM extra); without them it says so and exits 0, since only `vllm` tests need it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "vocab_size": 2000,
    "max_position_embeddings": 512,
    "seed": 1234,
    "recipe_version": 1,
}


def corpus(seed: int, lines: int = 4000) -> list[str]:
    rng = random.Random(seed)
    words = (
        "the a model server sleeps wakes on gpu node pod launcher requester provider "
        "fast actuation weights memory host kubernetes vllm instance binds hot warm cold "
        "tokens prompt answer cluster schedule swap level one two three four five"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 16))) + "." for _ in range(lines)]


def build(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(RECIPE["seed"])
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=RECIPE["vocab_size"],
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(RECIPE["seed"]), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.model_max_length = RECIPE["max_position_embeddings"]
    fast.save_pretrained(out)
    config = LlamaConfig(
        hidden_size=RECIPE["hidden_size"],
        intermediate_size=RECIPE["intermediate_size"],
        num_hidden_layers=RECIPE["num_hidden_layers"],
        num_attention_heads=RECIPE["num_attention_heads"],
        num_key_value_heads=RECIPE["num_key_value_heads"],
        vocab_size=RECIPE["vocab_size"],
        max_position_embeddings=RECIPE["max_position_embeddings"],
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        torch_dtype="float32",
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    (out / "fma-recipe.json").write_text(json.dumps(RECIPE, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=HERE / "tiny-llama")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    stamp = args.out / "fma-recipe.json"
    if not args.force and stamp.exists() and json.loads(stamp.read_text()) == RECIPE:
        return 0
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("make_tiny_llama: torch/transformers not installed; skipping (only `vllm` tests need it)")
        return 0
    build(args.out)
    if not args.quiet:
        digest = hashlib.sha256((args.out / "model.safetensors").read_bytes()).hexdigest()[:16]
        print(f"make_tiny_llama: wrote {args.out} (weights sha256 {digest}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
