"""The prediction command's output table: written as files finish, resumable.

Rows go to ``OUTPUT.partial`` beside the output, a chunk at a time (each
chunk flushed and synced to disk), and the partial file is renamed to
``OUTPUT`` once every file has its row: a killed run or a full disk leaves
the previous ``OUTPUT`` as it was, and the partial file holds every row
finished so far. ``resume`` reads those rows back (a row cut by the kill is
dropped) so that a re-run rates only the files without one.

CSV cells that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) are written with a leading
``'``, as OWASP advises for CSV injection; a text cell that already starts
with ``'`` gets one more, so reading a cell back (``unescape_cell``) gives
the exact text. Numbers are written as they are (``-0.5`` stays a number).

``timeline_rows`` turns predictions with windows into one row per window
(``start``, ``end`` in seconds) plus the file's summary row.

JSON output is kept as JSON lines in the partial file (one row per line)
and written as one JSON array when the run completes.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import io
import json
import os
import sys

from speechbrain_lora_ser.atomic import replacing
from speechbrain_lora_ser.modeling.labels import ATTRIBUTES

_VALUES = [*ATTRIBUTES, "label_low", "label_high"]
_NOTES = [
    "language",
    "language_probability",
    "not_learned",
    "out_of_range",
    "warning",
    "error",
]
#: Columns of a file's row, in order.
COLUMNS = ["file", *_VALUES, *_NOTES]
#: Columns of a timeline (``timeline_rows``), in order.
TIMELINE_COLUMNS = ["file", "span", "start", "end", *_VALUES, "speech_seconds", *_NOTES]
#: Columns holding lists, written as ``;``-separated names.
LIST_COLUMNS = ("not_learned", "out_of_range")
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """Return a CSV cell a spreadsheet shows as text, never runs as a formula.

    Example
    -------
    >>> escape_cell("=HYPERLINK(1)"), escape_cell("'quoted"), escape_cell(-0.5)
    ("'=HYPERLINK(1)", "''quoted", -0.5)
    >>> escape_cell("speech.wav")
    'speech.wav'
    """
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, "'")):
        return "'" + value
    return value


def unescape_cell(text):
    """Return the text ``escape_cell`` was given.

    Example
    -------
    >>> unescape_cell("'=1+1"), unescape_cell("''quoted"), unescape_cell("a")
    ('=1+1', "'quoted", 'a')
    """
    return text[1:] if text.startswith("'") else text


def csv_cells(row, columns):
    """Return a row's cells as the CSV holds them: lists joined, formulas escaped.

    Example
    -------
    >>> csv_cells({"file": "=x.wav", "out_of_range": ["valence"]},
    ...     ["file", "arousal", "out_of_range"])
    ["'=x.wav", '', 'valence']
    """
    cells = []
    for key in columns:
        value = row.get(key)
        if key in LIST_COLUMNS:
            value = ";".join(value or [])
        cells.append("" if value is None else escape_cell(value))
    return cells


def csv_text(rows, columns, header=False):
    """Rows (and the header) as CSV text, one line per row.

    Example
    -------
    >>> print(csv_text([{"file": "a.wav", "arousal": 4.0}], ["file", "arousal"],
    ...     header=True), end="")
    file,arousal
    a.wav,4.0
    """
    # Python's csv quotes a cell holding a line terminator's characters
    # only: with "\r\n" as terminator a cell with a lone "\r" is quoted too
    # (with "\n" it would be written bare and read back as two rows); each
    # line then ends with "\n", as the command always wrote.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines = []
    for cells in ([columns] if header else []) + [
        csv_cells(row, columns) for row in rows
    ]:
        writer.writerow(cells)
        lines.append(buffer.getvalue()[:-2] + "\n")
        buffer.seek(0)
        buffer.truncate()
    return "".join(lines)


def write_rows(rows, output, fmt, columns=COLUMNS):
    """Write rows as CSV or JSON to ``output`` (a path, or ``-`` for stdout).

    A path is written beside and renamed at the end (the previous file
    stays whole until then).

    Example
    -------
    >>> write_rows([{"file": "a.wav", "arousal": 4.0, "out_of_range": ["valence"]}],
    ...     "-", "csv")
    file,arousal,valence,dominance,label_low,label_high,language,language_probability,not_learned,out_of_range,warning,error
    a.wav,4.0,,,,,,,,valence,,
    """
    if fmt == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        text = csv_text(rows, columns, header=True)
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_synced(output, text)


def write_synced(path, text):
    r"""Write ``text`` to ``path`` atomically, synced to disk before the rename.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> write_synced(path, "file\r\n")
    >>> open(path, newline="").read()
    'file\r\n'
    """
    with replacing(path) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())


def complete_records(data, fmt):
    r"""Split a partial file's bytes into its whole records.

    A CSV record ends with a newline outside quotes (a quoted cell may hold
    newlines); a JSON-lines record is a line that parses. Whatever follows
    the last whole record (a write cut by a kill) is left out.

    Returns
    -------
    records : list of str
        The records' text (the CSV header included).
    length : int
        Bytes of ``data`` the records take.

    Example
    -------
    >>> complete_records(b'file,error\na.wav,"cut\nhere"\nb.wav,', "csv")
    (['file,error\n', 'a.wav,"cut\nhere"\n'], 28)
    """
    records, start, pending = [], 0, b""
    *lines, _unfinished = data.split(b"\n")
    for line in lines:
        pending += line + b"\n"
        if fmt == "csv" and pending.count(b'"') % 2:
            continue
        try:
            text = pending.decode("utf-8")
            if fmt == "json":
                json.loads(text)
        except ValueError:
            break
        records.append(text)
        start += len(pending)
        pending = b""
    return records, start


class PartialTable:
    r"""Rows written as they come to ``OUTPUT.partial``, renamed at the end.

    Arguments
    ---------
    output : str
        The output file (``-``: stdout, written as rows come, no resume).
    fmt : str
        ``csv`` or ``json``.
    columns : list of str
        The CSV columns.
    resume : bool
        Keep the rows of a previous run (its partial file, else its
        completed output) and report their files as done.
    end : tuple of str, optional
        ``(column, value)``: a file's rows are whole once its row with
        that value is written (the timeline's summary row); by default
        every row is a file's last.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> table = PartialTable(path, "csv", ["file", "arousal"])
    >>> table.write([{"file": "a.wav", "arousal": 4.0}])
    >>> open(path + ".partial").read()
    'file,arousal\na.wav,4.0\n'
    >>> table.finish()
    >>> sorted(PartialTable(path, "csv", ["file", "arousal"], resume=True).done)
    ['a.wav']
    >>> open(path).read()
    'file,arousal\na.wav,4.0\n'
    """

    def __init__(self, output, fmt, columns=COLUMNS, resume=False, end=(None, None)):
        self.output, self.fmt, self.columns = output, fmt, columns
        self.end_column, self.end_value = end
        self.partial = output + ".partial"
        self.rows = []  # previous rows (kept for stdout and JSON arrays)
        self.done = set()
        if output == "-":
            self.stream = None
            self.header_written = False
            return
        records = self._previous_records() if resume else []
        self.rows = self._parse(records)
        self.done = self._finished_files(self.rows)
        header = records[:1] if self.fmt == "csv" else []
        self._rewrite(header + records[len(header) :][: len(self.rows)])

    def _previous_records(self):
        """Whole records of the partial file, else of the completed output."""
        if os.path.exists(self.partial):
            with open(self.partial, "rb") as stream:
                return complete_records(stream.read(), self.fmt)[0]
        if not os.path.exists(self.output):
            return []
        with open(self.output, encoding="utf-8") as stream:
            if self.fmt == "json":
                rows = json.load(stream)
                return [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
            return complete_records(stream.read().encode("utf-8"), "csv")[0]

    def _parse(self, records):
        """Rows from records (CSV: the header first, cells unescaped)."""
        if self.fmt == "json":
            return [json.loads(record) for record in records]
        if not records:
            return []
        lines = csv.reader(io.StringIO("".join(records), newline=""))
        header = next(lines)
        if header != self.columns:
            raise ValueError(
                f"cannot resume {self.output}: its columns {header} are not "
                f"this run's {self.columns} (--timeline differs?)"
            )
        return [
            {key: unescape_cell(cell) for key, cell in zip(header, cells, strict=True)}
            for cells in lines
        ]

    def _finished_files(self, rows):
        """Files whose rows are whole; later rows of any other file dropped."""
        done, whole = set(), 0
        for count, row in enumerate(rows, 1):
            if self.end_column is None or row.get(self.end_column) == self.end_value:
                done.add(row["file"])
                whole = count
        del rows[whole:]
        return done

    def _rewrite(self, records):
        """Start the partial file with the kept records, as they were written.

        The new partial file is written beside the old one and renamed, so
        a kill now loses no finished row.
        """
        if self.fmt == "csv" and not records:
            records = [csv_text([], self.columns, header=True)]
        write_synced(self.partial, "".join(records))
        self.stream = open(self.partial, "a", newline="", encoding="utf-8")

    def _sync(self):
        self.stream.flush()
        os.fsync(self.stream.fileno())

    def write(self, rows):
        """Append rows (a chunk's) and sync them to disk."""
        if self.stream is None:
            if self.fmt == "json":
                self.rows.extend(rows)
                return
            sys.stdout.write(
                csv_text(rows, self.columns, header=not self.header_written)
            )
            sys.stdout.flush()
            self.header_written = True
            return
        if self.fmt == "csv":
            self.stream.write(csv_text(rows, self.columns))
        else:
            for row in rows:
                self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._sync()

    def finish(self):
        """Make the rows the output: rename (CSV) or write the JSON array."""
        if self.stream is None:
            if self.fmt == "json":
                write_rows(self.rows, "-", "json")
            elif not self.header_written:
                sys.stdout.write(csv_text([], self.columns, header=True))
            return
        self.stream.close()
        if self.fmt == "csv":
            os.replace(self.partial, self.output)
            return
        with open(self.partial, encoding="utf-8") as stream:
            rows = [json.loads(line) for line in stream]
        write_rows(rows, self.output, "json")
        os.remove(self.partial)


def timeline_rows(results):
    """One row per window, then the file's summary row, for each prediction.

    Arguments
    ---------
    results : list of dict
        ``predict_files(..., return_windows=True)`` rows: ``file``, the
        attributes, ``duration`` and ``windows`` (each with ``start``,
        ``end`` in seconds, the attributes, and optionally
        ``speech_seconds``, ``warning``, ``language``...).

    Returns
    -------
    list of dict
        Rows with ``TIMELINE_COLUMNS``: a window's ``start`` and ``end``
        (``span`` is ``window``); the summary row (``span`` is ``file``)
        spans the file (``0`` to ``duration``, empty when
        the file could not be read) and carries its ``error``.

    Example
    -------
    >>> rows = timeline_rows([{"file": "a.wav", "arousal": 4.0, "valence": 3.0,
    ...     "dominance": 5.0, "duration": 12.0, "warning": None, "error": None,
    ...     "windows": [
    ...         {"start": 0.0, "end": 10.0, "arousal": 4.2, "valence": 3.1,
    ...          "dominance": 5.1},
    ...         {"start": 2.0, "end": 12.0, "arousal": None, "valence": None,
    ...          "dominance": None, "warning": "no speech"}]}])
    >>> [(r["span"], r["start"], r["end"], r["arousal"]) for r in rows]
    [('window', 0.0, 10.0, 4.2), ('window', 2.0, 12.0, None), ('file', 0.0, 12.0, 4.0)]
    """
    rows = []
    for result in results:
        for window in result.get("windows") or []:
            row = dict.fromkeys(TIMELINE_COLUMNS)
            row.update({k: v for k, v in window.items() if k in row})
            row["file"], row["span"] = result["file"], "window"
            row["out_of_range"] = window.get("out_of_range") or []
            row["not_learned"] = window.get("not_learned") or []
            rows.append(row)
        summary = dict.fromkeys(TIMELINE_COLUMNS)
        summary.update({k: v for k, v in result.items() if k in summary})
        duration = result.get("duration")
        summary["span"] = "file"
        summary["start"] = None if duration is None else 0.0
        summary["end"] = duration
        summary["out_of_range"] = result.get("out_of_range") or []
        summary["not_learned"] = result.get("not_learned") or []
        rows.append(summary)
    return rows
