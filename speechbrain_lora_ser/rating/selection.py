"""Choose segments to annotate, spread over the arousal x valence (x dominance) space.

``select_segments`` reads the window rows of a rating dataset, leaves out
windows without values (no speech, or withheld by the model's calibration:
an attribute it did not learn), bins the attributes on the label scale and
picks, bin by bin (the scarcest first), windows at random (seeded) up to
each bin's quota, never two of one recording closer than ``min_gap``
seconds (overlapping windows of one recording are near-duplicates). A bin
with fewer candidates than its share leaves the rest to the other bins.

``write_selection`` writes ``segments.csv``, the audio cut to each segment
(``audio/``) and ``coverage.png``: the chosen segments over the archive.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os

import numpy as np
import soundfile

from speechbrain_lora_ser.rating.store import RatingStore


def candidate_windows(table, attributes):
    """Window rows (a pandas DataFrame) with a value for every attribute."""
    frame = table.to_pandas()
    frame = frame[frame["span"] == "window"]
    return frame.dropna(subset=list(attributes)).reset_index(drop=True)


def bin_index(frame, attributes, bins):
    """Each row's bin: a tuple of indices, equal-width bins on the label scale.

    Example
    -------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"arousal": [1.0, 7.0, 4.5], "label_low": 1.0,
    ...                   "label_high": 7.0})
    >>> bin_index(f, ["arousal"], 2)
    [(0,), (1,), (1,)]
    """
    low, high = frame["label_low"].to_numpy(), frame["label_high"].to_numpy()
    columns = []
    for name in attributes:
        share = (frame[name].to_numpy() - low) / (high - low)
        columns.append(np.clip((share * bins).astype(int), 0, bins - 1))
    return [tuple(int(c[i]) for c in columns) for i in range(len(frame))]


def equal_quotas(count, sizes):
    """Split ``count`` over bins as equally as their candidates allow.

    Example
    -------
    >>> equal_quotas(10, {"a": 1, "b": 100, "c": 100})
    {'a': 1, 'b': 4, 'c': 5}
    """
    quotas, left = dict.fromkeys(sizes, 0), count
    open_bins = [b for b in sizes if sizes[b]]
    while left and open_bins:
        share, extra = divmod(left, len(open_bins))
        for position, name in enumerate(sorted(open_bins, key=sizes.get)):
            give = min(
                share + (position >= len(open_bins) - extra), sizes[name] - quotas[name]
            )
            quotas[name] += give
            left -= give
        open_bins = [b for b in open_bins if quotas[b] < sizes[b]]
    return quotas


def select_segments(
    frame,
    count,
    attributes=("arousal", "valence"),
    bins=3,
    quotas=None,
    min_gap=0.0,
    seed=0,
):
    """Pick up to ``count`` windows spread over the attribute bins.

    Arguments
    ---------
    frame : pandas.DataFrame
        ``candidate_windows``.
    count : int
        Segments wanted (ignored when ``quotas`` are given).
    attributes : tuple of str
        The space: arousal x valence, or with dominance.
    bins : int
        Equal-width bins per attribute on the label scale.
    quotas : dict, optional
        ``{bin tuple: count}``; default equal counts (``equal_quotas``).
    min_gap : float
        Seconds that must separate two chosen windows of one recording.
    seed : int
        Of the random order within a bin.

    Returns
    -------
    pandas.DataFrame
        The chosen rows, with a ``bin`` column.
    """
    frame = frame.assign(bin=bin_index(frame, attributes, bins))
    groups = {b: g for b, g in frame.groupby("bin", sort=True)}
    sizes = {b: len(g) for b, g in groups.items()}
    if quotas is None:
        quotas = equal_quotas(count, sizes)
    rng, chosen, taken = np.random.default_rng(seed), [], {}
    for name in sorted(groups, key=sizes.get):
        group = groups[name]
        picked = 0
        for index in rng.permutation(len(group)):
            if picked >= quotas.get(name, 0):
                break
            row = group.iloc[index]
            spans = taken.setdefault(row["file"], [])
            if any(
                row["start"] < e + min_gap and s < row["end"] + min_gap
                for s, e in spans
            ):
                continue
            spans.append((row["start"], row["end"]))
            chosen.append(row)
            picked += 1
    import pandas as pd

    return pd.DataFrame(chosen).reset_index(drop=True)


def write_selection(chosen, archive, folder, attributes, seconds=None):
    """Write ``segments.csv``, the cut audio and ``coverage.png`` to ``folder``."""
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    paths = []
    for number, row in chosen.iterrows():
        start, end = row["start"], row["end"]
        if seconds is not None:
            middle = (start + end) / 2
            start, end = max(0.0, middle - seconds / 2), middle + seconds / 2
        info = soundfile.info(row["file"])
        audio, rate = soundfile.read(
            row["file"],
            start=int(start * info.samplerate),
            stop=min(int(end * info.samplerate), info.frames),
        )
        path = os.path.join("audio", f"segment_{number:05d}.wav")
        soundfile.write(os.path.join(folder, path), audio, rate)
        paths.append(path)
    listing = chosen.assign(audio=paths)
    columns = ["audio", "file", "start", "end", *attributes, "bin"]
    listing[columns].to_csv(os.path.join(folder, "segments.csv"), index=False)
    plot_coverage(archive, chosen, attributes, os.path.join(folder, "coverage.png"))


def plot_coverage(archive, chosen, attributes, path):
    """Scatter the archive's windows (grey) and the chosen ones (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = attributes[0], attributes[1]
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(archive[x], archive[y], s=4, c="0.7", label="archive windows")
    axes.scatter(chosen[x], chosen[y], s=16, c="tab:red", label="chosen")
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv=None):
    """Run ``ser-select``; returns the exit status."""
    parser = argparse.ArgumentParser(description="Choose segments to annotate.")
    parser.add_argument("ratings", help="a ser-rate output folder")
    parser.add_argument("--output", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=None, help="segment length")
    parser.add_argument("--bins", type=int, default=3)
    parser.add_argument("--dominance", action="store_true", help="a 3-D space")
    parser.add_argument("--min_gap", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    attributes = ("arousal", "valence") + (("dominance",) if args.dominance else ())
    frame = candidate_windows(RatingStore(args.ratings).ratings(), attributes)
    if frame.empty:
        print(f"error: no rated window with speech in {args.ratings}")
        return 1
    chosen = select_segments(
        frame, args.count, attributes, args.bins, None, args.min_gap, args.seed
    )
    write_selection(chosen, frame, args.output, attributes, args.seconds)
    print(f"{len(chosen)} segments written to {args.output}")
    return 0
