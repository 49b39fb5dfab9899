"""Build a tiny but real FunASR Paraformer model directory for tests.

Why this exists: the production engine loads multi-hundred-megabyte Paraformer
checkpoints that CI does not have and must never download. To still exercise the
real code path — ``funasr.AutoModel(model=<dir>)`` reading ``config.yaml``,
building the tokenizer, the ``WavFrontend`` (fbank + LFR + CMVN), the SANM
encoder, the CIF predictor and the SANM decoder, loading ``model.pt`` and running
batched ``generate()`` — we write a directory with the same layout and the same
model classes as ``paraformer-zh``, but with one 32-wide block per stack and
seeded random weights. Its output is gibberish Chinese; tests only check the
plumbing (segments, roles, times, batching), never the words.

The predictor and the decoder output layer are nudged so that the random model
reliably fires a few tokens per second of audio and never predicts the special
tokens; otherwise every segment could decode to an empty string and be dropped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# Mirrors paraformer-zh: 80 mel bins stacked 7 frames wide every 6 frames (60 ms).
N_MELS = 80
LFR_M = 7
LFR_N = 6
HIDDEN = 32
# Specials first/last exactly like paraformer-zh's tokens.json (blank=0, sos=1, eos=2).
SPECIAL_HEAD = ("<blank>", "<s>", "</s>")
UNK = "<unk>"
CHARS = "您好请问有什么可以帮您的我想查询一下账单退款订单号码客服电话谢谢再见是不对没问题稍等"
# Fraction of a token the CIF predictor accumulates per 60 ms frame (≈5 tokens/s).
CIF_ALPHA = 0.3


def tiny_config() -> dict[str, Any]:
    """Return the config.yaml content: paraformer-zh's structure, shrunk."""
    return {
        "model": "Paraformer",
        "model_conf": {
            "ctc_weight": 0.0,
            "lsm_weight": 0.1,
            "length_normalized_loss": True,
            "predictor_weight": 1.0,
            "predictor_bias": 1,
            "sampling_ratio": 0.75,
        },
        "encoder": "SANMEncoder",
        "encoder_conf": {
            "output_size": HIDDEN,
            "attention_heads": 2,
            "linear_units": 64,
            "num_blocks": 1,
            "dropout_rate": 0.0,
            "positional_dropout_rate": 0.0,
            "attention_dropout_rate": 0.0,
            "input_layer": "pe",
            "pos_enc_class": "SinusoidalPositionEncoder",
            "normalize_before": True,
            "kernel_size": 11,
            "sanm_shfit": 0,
            "selfattention_layer_type": "sanm",
        },
        "decoder": "ParaformerSANMDecoder",
        "decoder_conf": {
            "attention_heads": 2,
            "linear_units": 64,
            "num_blocks": 1,
            "dropout_rate": 0.0,
            "positional_dropout_rate": 0.0,
            "self_attention_dropout_rate": 0.0,
            "src_attention_dropout_rate": 0.0,
            "att_layer_num": 1,
            "kernel_size": 11,
            "sanm_shfit": 0,
        },
        "predictor": "CifPredictorV2",
        "predictor_conf": {
            "idim": HIDDEN,
            "threshold": 1.0,
            "l_order": 1,
            "r_order": 1,
            "tail_threshold": 0.45,
        },
        "frontend": "WavFrontend",
        "frontend_conf": {
            "fs": 16000,
            "window": "hamming",
            "n_mels": N_MELS,
            "frame_length": 25,
            "frame_shift": 10,
            "lfr_m": LFR_M,
            "lfr_n": LFR_N,
        },
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": UNK},
        "normalize": None,
    }


def tiny_tokens() -> list[str]:
    """Return the vocabulary: specials plus a few dozen distinct Chinese characters."""
    chars = list(dict.fromkeys(CHARS))  # de-duplicate, keep order
    return [*SPECIAL_HEAD, *chars, UNK]


def write_identity_cmvn(path: Path, dim: int) -> None:
    """Write a Kaldi-nnet am.mvn that WavFrontend parses: shift 0, scale ~1/std of log-mel."""
    # Log-mel fbank values sit around -5..15; centring them keeps random layers sane.
    shift = " ".join(["-8.0"] * dim)
    scale = " ".join(["0.25"] * dim)
    path.write_text(
        "<Nnet>\n"
        f"<Splice> {dim} {dim}\n[ 0 ]\n"
        f"<AddShift> {dim} {dim}\n<LearnRateCoef> 0 [ {shift} ]\n"
        f"<Rescale> {dim} {dim}\n<LearnRateCoef> 0 [ {scale} ]\n"
        "</Nnet>\n",
        encoding="utf-8",
    )


def build_tiny_paraformer(target: Path, *, seed: int = 0) -> Path:
    """Create a loadable tiny Paraformer model directory at ``target`` and return it.

    Writes ``config.yaml``, ``tokens.json``, ``am.mvn`` and ``model.pt`` (a plain
    state dict, which is what funasr's ``load_pretrained_model`` expects).
    Deterministic for a given seed.
    """
    import torch
    import yaml
    from funasr.models.paraformer.model import Paraformer
    from funasr.register import tables

    target.mkdir(parents=True, exist_ok=True)
    config = tiny_config()
    tokens = tiny_tokens()
    (target / "config.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    (target / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")
    write_identity_cmvn(target / "am.mvn", N_MELS * LFR_M)

    # Build the module exactly as AutoModel.build_model would: registry classes plus
    # vocab_size / input_size injected from the tokenizer and frontend.
    assert tables.model_classes.get("Paraformer") is Paraformer
    torch.manual_seed(seed)
    model_kwargs = {k: v for k, v in config.items() if k not in ("model", "model_conf")}
    model = Paraformer(
        **config["model_conf"],
        **model_kwargs,
        vocab_size=len(tokens),
        input_size=N_MELS * LFR_M,
    )
    with torch.no_grad():
        # Make the CIF predictor fire at a steady rate regardless of the random encoder.
        predictor: Any = model.predictor
        predictor.cif_output.weight.mul_(0.01)
        predictor.cif_output.bias.fill_(math.log(CIF_ALPHA / (1.0 - CIF_ALPHA)))
        # Never emit specials, so every fired token is a visible character.
        decoder: Any = model.decoder
        bias = decoder.output_layer.bias
        for special in (*SPECIAL_HEAD, UNK):
            bias[tokens.index(special)] = -1.0e4
    torch.save(model.state_dict(), target / "model.pt")
    return target
