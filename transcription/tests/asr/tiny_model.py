"""Build tiny but real FunASR model directories (Paraformer, SenseVoice, CAM++) for tests.

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

The same approach gives a tiny SenseVoiceSmall (SANM encoder + CTC, with a
character-level sentencepiece model trained on the spot that carries the rich
tags as pieces, like the real bpe model) and a tiny CAM++ speaker-embedding
model (``CAMPPlus`` with narrow TDNN blocks; its embeddings are meaningless).
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


# --- SenseVoiceSmall ---------------------------------------------------------------
# The rich tags SenseVoice's vocabulary carries as single pieces, as in the real model.
SENSEVOICE_TAGS = (
    "<|zh|>", "<|en|>", "<|yue|>", "<|ja|>", "<|ko|>", "<|nospeech|>",
    "<|HAPPY|>", "<|SAD|>", "<|ANGRY|>", "<|NEUTRAL|>", "<|FEARFUL|>", "<|DISGUSTED|>",
    "<|SURPRISED|>", "<|EMO_UNKNOWN|>",
    "<|Speech|>", "<|BGM|>", "<|Applause|>", "<|Laughter|>", "<|Cry|>", "<|Event_UNK|>",
    "<|withitn|>", "<|woitn|>",
)  # fmt: skip
# The only tags the tiny model can emit: every other tag's output is suppressed, so a
# test knows which emotion and language must come out of the parsing.
SENSEVOICE_EMITTED_TAGS = ("<|en|>", "<|HAPPY|>", "<|Speech|>", "<|withitn|>")
# With ITN on, the real model writes punctuation and digits; the tiny vocabulary has some.
SENSEVOICE_EXTRA_CHARS = "，。？0123456789"
# Logit boost for the emitted tags, so random weights produce some of them per segment.
SENSEVOICE_TAG_BOOST = 0.5


def tiny_sensevoice_config() -> dict[str, Any]:
    """Return the config.yaml content: SenseVoiceSmall's structure, shrunk."""
    return {
        "model": "SenseVoiceSmall",
        "model_conf": {"length_normalized_loss": True, "sos": 1, "eos": 2, "ignore_id": -1},
        "encoder": "SenseVoiceEncoderSmall",
        "encoder_conf": {
            "output_size": HIDDEN,
            "attention_heads": 2,
            "linear_units": 64,
            "num_blocks": 2,
            "tp_blocks": 1,
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
        "tokenizer": "SentencepiecesTokenizer",
        # funasr fills bpemodel in from the bpe.model file next to config.yaml.
        "tokenizer_conf": {"bpemodel": None, "unk_symbol": "<unk>", "split_with_space": True},
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
        "ctc_conf": {"dropout_rate": 0.0, "ctc_type": "builtin", "reduce": True},
        "normalize": None,
    }


def train_tiny_sentencepiece(path: Path) -> list[str]:
    """Train a character-level sentencepiece model with the rich tags as user symbols.

    Same layout as SenseVoice's real bpe model: <unk>=0 (also the CTC blank), <s>=1,
    </s>=2, then the tags, then characters. Returns the pieces in id order.
    """
    import io

    import sentencepiece as spm

    chars = list(dict.fromkeys(CHARS + SENSEVOICE_EXTRA_CHARS))
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["".join(chars)] * 10 + chars),
        model_writer=model,
        model_type="char",
        vocab_size=3 + len(SENSEVOICE_TAGS) + len(chars) + 1,  # + "▁"
        hard_vocab_limit=False,
        user_defined_symbols=list(SENSEVOICE_TAGS),
        character_coverage=1.0,
        # Keep full-width punctuation as the real model writes it (NFKC would turn "，" into ",").
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_file=str(path))
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def build_tiny_sensevoice(target: Path, *, seed: int = 0) -> Path:
    """Create a loadable tiny SenseVoiceSmall model directory at ``target`` and return it.

    Writes ``config.yaml``, ``bpe.model`` (a freshly trained tiny sentencepiece
    model), ``am.mvn`` and ``model.pt``. Output is random pieces and tags.
    """
    import torch
    import yaml
    from funasr.models.sense_voice.model import SenseVoiceSmall
    from funasr.register import tables

    target.mkdir(parents=True, exist_ok=True)
    config = tiny_sensevoice_config()
    (target / "config.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    pieces = train_tiny_sentencepiece(target / "bpe.model")
    write_identity_cmvn(target / "am.mvn", N_MELS * LFR_M)

    assert tables.model_classes.get("SenseVoiceSmall") is SenseVoiceSmall
    torch.manual_seed(seed)
    model_kwargs = {k: v for k, v in config.items() if k not in ("model", "model_conf")}
    model = SenseVoiceSmall(
        **config["model_conf"], **model_kwargs, vocab_size=len(pieces), input_size=N_MELS * LFR_M
    )
    with torch.no_grad():
        bias = model.ctc.ctc_lo.bias
        for index, piece in enumerate(pieces):
            if piece in SENSEVOICE_EMITTED_TAGS:
                bias[index] += SENSEVOICE_TAG_BOOST
            elif piece in SENSEVOICE_TAGS or piece in ("<s>", "</s>"):
                bias[index] = -1.0e4
    torch.save(model.state_dict(), target / "model.pt")
    return target


# --- CAM++ speaker embedding model ----------------------------------------------------
def tiny_campplus_config() -> dict[str, Any]:
    """Return the config.yaml content: CAM++ (speech_campplus_sv_zh-cn_16k-common), shrunk."""
    return {
        "model": "CAMPPlus",
        "model_conf": {
            "feat_dim": N_MELS,
            "embedding_size": 16,
            "growth_rate": 4,
            "bn_size": 2,
            "init_channels": 8,
            "config_str": "batchnorm-relu",
            "memory_efficient": True,
            "output_level": "segment",
        },
    }


def build_tiny_campplus(target: Path, *, seed: int = 0) -> Path:
    """Create a loadable tiny CAM++ directory (config.yaml + model.pt, random weights)."""
    import torch
    import yaml
    from funasr.models.campplus.model import CAMPPlus

    target.mkdir(parents=True, exist_ok=True)
    config = tiny_campplus_config()
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    torch.manual_seed(seed)
    model = CAMPPlus(**config["model_conf"])
    torch.save(model.state_dict(), target / "model.pt")
    return target
