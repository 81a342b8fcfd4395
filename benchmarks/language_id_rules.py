#!/usr/bin/env python3
"""Other decisions on a language-ID benchmark's probabilities (its JSON).

``benchmarks/language_id.py --output FILE`` keeps every test file's
probabilities (the bank languages, then ``unknown``) per channel. This
script asks whether another rule than the bank's (``language_id.decide``:
unknown when ``unknown`` outweighs the most probable language, uncertain
below the guard) would serve more files right without naming fewer kept-out
files unknown. Its rule has two thresholds:

* ``u``: a file is unknown when its ``unknown`` probability is at least ``u``;
* ``g``: otherwise it is uncertain when its most probable bank language has
  less than ``g`` of the probability the bank languages share.

For each pair it prints, over all channels, the worst and mean share of each
bank language's files served as that language, the same for kept-out files
named unknown or uncertain, and the most files of a channel and language sent
to another language's adapter.

> python benchmarks/language_id_rules.py language_id.json

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json

import torch

U = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
G = (0.5, 0.6, 0.7, 0.8, 0.9)


def serve(p, count, u, g):
    """Each file's served language index (-1: unknown or uncertain).

    Example
    -------
    >>> p = torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.2, 0.5], [0.5, 0.4, 0.1]])
    >>> serve(p, 2, 0.4, 0.6).tolist()
    [0, -1, -1]
    """
    bank = p[:, :count]
    shares = bank / bank.sum(-1, keepdim=True).clamp_min(1e-9)
    best, index = shares.max(-1)
    kept = (p[:, count] < u) & (best >= g)
    return torch.where(kept, index, torch.full_like(index, -1))


def rates(probabilities, languages, u, g):
    """Per bank language its served shares, the kept-out shares, misroutes."""
    served = {language: [] for language in languages}
    flagged, misrouted = [], []
    for by_language in probabilities.values():
        for language, rows in by_language.items():
            routes = serve(torch.tensor(rows), len(languages), u, g)
            if language in languages:
                right = languages.index(language)
                served[language].append((routes == right).float().mean().item())
                wrong = (routes >= 0) & (routes != right)
                misrouted.append(wrong.float().mean().item())
            else:
                flagged.append((routes < 0).float().mean().item())
    return served, flagged, misrouted


def main():
    """Print the worst and mean shares for each pair of thresholds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", help="the JSON of benchmarks/language_id.py")
    parser.add_argument("--router", default="ecapa")
    args = parser.parse_args()
    with open(args.results, encoding="utf-8") as handle:
        results = json.load(handle)
    entry = results["routers"][args.router]
    languages = list(entry["test_accents"])
    print(
        "u: unknown at or above; g: uncertain below (share among the bank's "
        "languages)\nworst/mean over channels: served "
        + "/".join(languages)
        + "; kept-out named unknown; most misrouted"
    )
    for u in U:
        for g in G:
            served, flagged, misrouted = rates(entry["probabilities"], languages, u, g)
            shown = " ".join(
                f"{language[:2]} {min(v):.0%}/{sum(v) / len(v):.0%}"
                for language, v in served.items()
            )
            print(
                f"u {u:.1f} g {g:.1f}: {shown}; unknown "
                f"{min(flagged):.0%}/{sum(flagged) / len(flagged):.0%}; "
                f"misrouted <= {max(misrouted):.0%}"
            )


if __name__ == "__main__":
    main()
