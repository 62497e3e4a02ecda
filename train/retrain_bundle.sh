#!/usr/bin/env bash
# Retrain a whole model bundle end to end, resumably, on the CPU or on GPUs:
#
#   bash train/retrain_bundle.sh [CONFIG] [MODEL_DIR]      # defaults: demo demo/model
#
# corpus cache (if missing) -> VAE -> encode + refit the codec -> the decoder for sampled latents
# -> outline model, diffusion and TransformerMDN -> per-style reconstruction and the per-style evaluation. Each
# trainer checkpoints into runs/ and resumes from there, so the script can be run again after an interruption. Extra flags for
# one stage go in VAE_FLAGS, CODEC_FLAGS, OUTLINE_FLAGS, DIFFUSION_FLAGS, MDN_FLAGS (e.g. VAE_FLAGS="--steps 20000", or
# VAE_FLAGS="--init-from DIR" to continue the VAE weights of another bundle, as the committed one did);
# EVAL_N sets the sequences per system of the evaluation (default 200). On a GPU machine,
# carry data/music21.npz with the working tree (or let the first stage rebuild it).
set -euo pipefail
cd "$(dirname "$0")/.."

config="${1:-demo}"
model_dir="${2:-demo/model}"
python_bin="${PYTHON:-.venv/bin/python}"
runs="${RUNS:-runs/$config}"

[ -f data/music21.npz ] || "$python_bin" -m train.prepare_data --source music21
# shellcheck disable=SC2086  # the *_FLAGS variables are word lists on purpose
"$python_bin" -m train.train_vae --config "$config" --out "$runs/vae" --resume --export "$model_dir" ${VAE_FLAGS:-}
# the demo VAE uses all 128 dims (512 free bits): its codec keeps their 48 leading principal components
# (docs/data-and-training.md, "The VAE"); the paper's keeps the dims below the sigma threshold
default_codec_flags=""
[ "$config" = demo ] && default_codec_flags="--components 48"
# shellcheck disable=SC2086
"$python_bin" -m train.encode --model "$model_dir" --refit-codec --out "data/latents_music21.npz" \
  ${CODEC_FLAGS:-$default_codec_flags}
# the decoder taught the latents a sequence model draws (docs/data-and-training.md, "Decoding sampled
# latents"); the encoder stays frozen, so the codec and the latents just written stay valid
"$python_bin" -m train.train_vae --config "$config" --out "$runs/vae_sampled" --resume --init-from "$model_dir" \
  --freeze-encoder true --latent-noise 0.1 --noise-conditioned true --export "$model_dir"
# the outline model (each chunk's first and last pitch and onset count), which the sequence models follow
# shellcheck disable=SC2086
"$python_bin" -m train.train_outline --config "$config" --out "$runs/outline" --resume --export "$model_dir" \
  ${OUTLINE_FLAGS:-}
# shellcheck disable=SC2086
"$python_bin" -m train.train_diffusion --config "$config" --out "$runs/diffusion" --resume --export "$model_dir" \
  ${DIFFUSION_FLAGS:-}
# shellcheck disable=SC2086
"$python_bin" -m train.train_mdn --config "$config" --out "$runs/mdn" --resume --export "$model_dir" ${MDN_FLAGS:-}
"$python_bin" -m eval_lab.reconstruction --model "$model_dir"
# the paper's protocol per style at a length that style has (eval_lab/results/STYLE_BARSbars)
for setting in renaissance:64 folk:32; do
  style="${setting%%:*}" bars="${setting##*:}"
  "$python_bin" -m eval_lab.run --model "$model_dir" --n "${EVAL_N:-200}" --style "$style" --bars "$bars" \
    --out "eval_lab/results/${style}_${bars}bars"
done
# the held-out sample the app's quick rerun reads where data/ is missing (a Space)
"$python_bin" -m eval_lab.heldout_sample --latents data/latents_music21.npz --data data/music21.npz \
  --out "$model_dir/heldout"
