"""Which K-shot rule for a Siamese network, measured on the validation classes.

    python benchmarks/siamese_shot_rule.py [--checkpoint checkpoints/siamese-omniglot-vinyals]
        [--episodes 300] [--seed 1] [--threads 1]

Koch et al. (2015) classify one-shot tasks only: a query takes the class of its most similar
support image. With K > 1 images per class there are three natural rules, all with the same
pair score s (the verification logit, or -d² for the contrastive loss):

- ``max``: a class scores its most similar support image, max_k s(q, x_ck) (nearest
  neighbour; what the project shipped first);
- ``mean``: a class scores the mean over its support images, (1/K) Σ_k s(q, x_ck) (for -d²,
  the negative squared distance to the class mean less the class's spread);
- ``prototype``: a class scores its mean code, s(q, c_k) with c_k = (1/K) Σ_k h(x_ck)
  (for -d², Prototypical Networks' rule on the Siamese codes; what ``fewshot/methods/siamese.py``
  does, chosen by this measurement).

The rule is a design choice, so it is chosen on the validation part of the split (never the
test part). Prints one row per setting: accuracy % ± 95% interval for each rule, on the same
seeded episodes, and for the second and third rules the paired difference from the first.
"""

from __future__ import annotations

import argparse

import torch.nn.functional as F
from siamese_common import add_common_arguments, load_network_and_validation  # (puts the repository on sys.path)

from fewshot.evaluate import DEFAULT_QUERIES, evaluate, mean_ci95
from fewshot.methods.base import class_means
from fewshot.methods.siamese import SiameseNetwork


class NearestImageSiamese(SiameseNetwork):
    """The same network, scoring a class by its most similar support image (Koch et al.'s rule)."""

    def class_scores(self, query_features, support_features, support_labels, ways):
        scores = self.pair_scores(query_features, support_features)  # [Q, S]
        members = F.one_hot(support_labels, ways).T.bool()  # [N, S]
        return scores.unsqueeze(1).masked_fill(~members.unsqueeze(0), float("-inf")).amax(dim=2)


class MeanScoreSiamese(SiameseNetwork):
    """The same network, scoring a class by the mean pair score over its support images."""

    def class_scores(self, query_features, support_features, support_labels, ways):
        scores = self.pair_scores(query_features, support_features)  # [Q, S]
        return class_means(scores.T, support_labels, ways).T  # [Q, N]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, episodes=300)
    args = parser.parse_args()
    network, card, val = load_network_and_validation(args)
    print(f"{card['name']}: {card['dataset']}/{card['split']} validation part, {args.episodes} episodes, "
          f"seed {args.seed}, {DEFAULT_QUERIES} queries per class; in brackets the paired difference from "
          f"the first rule on the same episodes (points ± 95% interval)\n")
    rules = {"max (nearest support image)": NearestImageSiamese,
             "mean over the class's support images": MeanScoreSiamese,
             "prototype (the class's mean code; shipped)": SiameseNetwork}
    print("| setting | " + " | ".join(rules) + " |")
    print("| --- |" + " --- |" * len(rules))
    for ways in [w for w in (5, 20) if w <= val.num_classes]:
        cells, first = [], None
        for rule in rules.values():
            network.__class__ = rule  # the same weights, scored by the other rule
            result = evaluate(network, val, ways, 5, episodes=args.episodes, seed=args.seed, keep_episodes=True)
            cell = f"{100 * result['accuracy']:.2f} ± {100 * result['ci95']:.2f}"
            if first is None:
                first = result["episode_accuracies"]
            else:
                difference, ci = mean_ci95([a - b for a, b in zip(result["episode_accuracies"], first)])
                cell += f" ({100 * difference:+.2f} ± {100 * ci:.2f})"
            cells.append(cell)
        print(f"| {ways}-way 5-shot | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
