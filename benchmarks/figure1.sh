#!/usr/bin/env bash
# Trask et al. (2018), Figure 1, in one command: MLPs with each activation learn the identity on [-5, 5]
# and fail outside it; the NAC+ and NAU beside them do not.
#
#   bash benchmarks/figure1.sh                          # runs in runs/figure1, picture in benchmarks/results/
#   bash benchmarks/figure1.sh /tmp/fig1 /tmp/fig1.png  # elsewhere
#
# The preset trask2018_fig1 is the task (identity of x0, train U[-5,5], test [-20,-5] ∪ [5,20]) and the
# model stack (an MLP with three hidden layers of 8, 10,000 Adam steps at lr 0.01, from the recipe book);
# --set model.activation picks the activation, --unit swaps in a unit. Five seeds per model, batched.
# Needs matplotlib (pip install 'nalu[plot]'). About 5 minutes of CPU on one core.
set -euo pipefail
out=${1:-runs/figure1}
png=${2:-benchmarks/results/trask2018_figure1.png}
# Eight activations: with the NAC+ and NAU that makes ten curves, one colour each (leaky_relu and prelu,
# close to relu here, are left out; add them to the list to see them too).
for activation in relu relu6 tanh sigmoid elu selu softplus none; do
    nalu -q train --preset trask2018_fig1 --set model.activation="$activation" --seeds 5 \
        --out "$out/mlp-$activation" --force
done
nalu -q train --preset trask2018_fig1 --unit nac_add --seeds 5 --out "$out/nac_add" --force
nalu -q train --preset trask2018_fig1 --unit nau --seeds 5 --out "$out/nau" --force
# Error against input magnitude: ×0.1-×1 of the training range lies inside it, ×1-×4 reaches ±20.
nalu plot "$out"/mlp-* "$out/nac_add" "$out/nau" --metric mae \
    --factors 0.1,0.2,0.3,0.5,0.7,1,1.5,2,2.5,3,3.5,4 --out "$png"
