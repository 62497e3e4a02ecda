"""The committed demo VAE reconstructs real held-out melodies (demo/model)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.latents import LatentCodec
from core.melody import rest_chunk_mask, split_into_chunks
from core.vae import load_vae
from core.reconstruction import reconstruct, reconstruction_scores
from train import music21_corpus
from core.melody_cache import EVAL, split_of

MODEL_DIR = Path(__file__).resolve().parent.parent / "demo" / "model"


@pytest.fixture(scope="module")
def held_out_chunks() -> np.ndarray:
    """Non-rest 2-bar chunks of Essen folk songs that the data split holds out (eval split)."""
    root = music21_corpus.corpus_root()
    path = root / "essenFolksong" / "altdeu10.abc"
    tunes = music21_corpus._split_abc_tunes(path.read_text(encoding="latin-1"))
    chunks = []
    for index, tune in enumerate(tunes):
        key = f"essenFolksong/altdeu10.abc#{index}"
        if split_of(key, 0.05) != EVAL:
            continue
        try:
            tracks = music21_corpus.read_item(music21_corpus.Music21Item(key, str(path), tune))
        except music21_corpus.SkippedItem:
            continue
        chunks += [split_into_chunks(track.melody) for track in tracks]
        if sum(len(c) for c in chunks) >= 40:
            break
    chunks = np.concatenate(chunks)
    return chunks[~rest_chunk_mask(chunks)]


def test_committed_vae_reconstructs_held_out_chunks(held_out_chunks):
    vae = load_vae(MODEL_DIR)
    assert len(held_out_chunks) >= 20
    scores = reconstruction_scores(held_out_chunks, reconstruct(vae, held_out_chunks))
    assert scores["token_accuracy"] > 0.85, scores
    assert scores["note_f1"] > 0.5, scores


def test_committed_codec_maps_held_out_latents_near_the_unit_range(held_out_chunks):
    vae, codec = load_vae(MODEL_DIR), LatentCodec.load(MODEL_DIR)
    mu, _ = vae.encode(torch.as_tensor(held_out_chunks, dtype=torch.long))
    x = codec.transform(mu)
    assert x.shape[1] == codec.data_dims
    assert x.abs().max() < 1.5, "held-out latents stay close to the training range"
    assert torch.allclose(codec.inverse(x)[:, codec.active_dims], mu[:, codec.active_dims], atol=1e-4)
