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
import shutil
import sys

import numpy as np
import soundfile

from speechbrain_lora_ser.atomic import recover_folder, replace_folder
from speechbrain_lora_ser.modeling.labels import ATTRIBUTES
from speechbrain_lora_ser.rating.store import RATINGS, RatingStore

SEGMENTS = "segments.csv"


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
    """Write ``segments.csv``, the cut audio and ``coverage.png`` as ``folder``.

    Written beside (``<folder>.writing``), then put in place of an earlier
    selection as a whole (``atomic.replace_folder``): no segment of an
    earlier selection is left among the new ones, and a killed run leaves
    the earlier one as it was.
    """
    folder = os.path.abspath(folder)
    recover_folder(folder)
    staging = folder + ".writing"
    shutil.rmtree(staging, ignore_errors=True)
    _write_selection(chosen, archive, staging, attributes, seconds)
    replace_folder(staging, folder)


def _write_selection(chosen, archive, folder, attributes, seconds):
    os.makedirs(os.path.join(folder, "audio"))
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
    listing[columns].to_csv(os.path.join(folder, SEGMENTS), index=False)
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


def selection_parser():
    """Build the ``ser-select`` argument parser.

    Example
    -------
    >>> selection_parser().parse_args(["ratings", "--output", "o"]).attributes
    ['arousal', 'valence']
    """
    parser = argparse.ArgumentParser(description="Choose segments to annotate.")
    parser.add_argument("ratings", help="a ser-rate output folder")
    parser.add_argument("--output", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=None, help="segment length")
    parser.add_argument("--bins", type=int, default=3)
    parser.add_argument(
        "--attributes",
        nargs="+",
        choices=ATTRIBUTES,
        default=["arousal", "valence"],
        help="the space to spread the segments over (default: arousal valence)",
    )
    parser.add_argument(
        "--dominance", action="store_true", help="add dominance (a 3-D space)"
    )
    parser.add_argument("--min_gap", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def check_selection_arguments(parser, args):
    """Refuse what cannot be selected from or written to (exit 2).

    Example
    -------
    >>> parser = selection_parser()
    >>> args = parser.parse_args(["/no/ratings", "--output", "o"])
    >>> check_selection_arguments(parser, args)  # the message goes to stderr
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    for name in ("count", "bins"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if not os.path.isdir(os.path.join(args.ratings, RATINGS)):
        parser.error(f"{args.ratings}: not a ser-rate output folder (no {RATINGS}/)")
    output = args.output
    if (
        os.path.isdir(output)
        and os.listdir(output)
        and not os.path.isfile(os.path.join(output, SEGMENTS))
    ):
        parser.error(
            f"--output {output}: holds files that are not a selection; give a "
            "new or empty folder (an earlier selection there is replaced whole)"
        )


def attribute_problem(table, attributes, folder):
    """Say which attributes no window has a value for (None: all have some).

    Example
    -------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"span": ["window"] * 2, "arousal": [3.0, 4.0],
    ...                       "valence": [None, None], "dominance": [2.0, 5.0]})
    >>> print(attribute_problem(frame, ["arousal", "valence"], "ratings"))
    no window in ratings has a value for valence (not learned by the model, \
or withheld); those with values: arousal dominance (choose with --attributes)
    """
    windows = table[table["span"] == "window"]
    if windows.empty:
        return None
    valued = [name for name in ATTRIBUTES if windows[name].notna().any()]
    missing = [name for name in attributes if name not in valued]
    if not missing:
        return None
    return (
        f"no window in {folder} has a value for {' or '.join(missing)} (not "
        "learned by the model, or withheld); those with values: "
        f"{' '.join(valued) or 'none'} (choose with --attributes)"
    )


def main(argv=None):
    """Run ``ser-select``; returns the exit status."""
    parser = selection_parser()
    args = parser.parse_args(argv)
    check_selection_arguments(parser, args)
    attributes = tuple(dict.fromkeys(args.attributes + ["dominance"] * args.dominance))
    if len(attributes) < 2:
        parser.error("--attributes: give two or three (the space to spread over)")
    table = RatingStore(args.ratings).ratings()
    problem = attribute_problem(table.to_pandas(), attributes, args.ratings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    frame = candidate_windows(table, attributes)
    if frame.empty:
        print(f"error: no rated window with speech in {args.ratings}", file=sys.stderr)
        return 1
    chosen = select_segments(
        frame, args.count, attributes, args.bins, None, args.min_gap, args.seed
    )
    write_selection(chosen, frame, args.output, attributes, args.seconds)
    print(f"{len(chosen)} segments written to {args.output}")
    if len(chosen) < args.count:
        print(
            f"note: {len(chosen)} of the {args.count} asked: {len(frame)} "
            "windows have values, and chosen windows of one recording neither "
            f"overlap nor come closer than --min_gap ({args.min_gap:g} s)",
            file=sys.stderr,
        )
    return 0
