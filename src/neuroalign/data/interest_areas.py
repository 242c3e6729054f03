"""Interest areas (word boxes) and the word-level reading measures of a fixation sequence.

Pure functions on arrays and frames; the readers (``neuroalign.data.readers.onestop``) and the
fixation detection (``neuroalign.data.gaze``) bring the tables.

The measures follow the definitions of SR Research's Data Viewer interest-area report, so that
a measure recomputed from a fixation report equals the report's own column. For interest area
``i`` of a trial whose fixations, in order, land on interest areas ``a_1 .. a_n`` (-1 outside
every interest area) with durations ``d_1 .. d_n``, and ``k`` the first fixation on ``i``:

- ``fixation_count`` (``IA_FIXATION_COUNT``): fixations on ``i``; ``TRT``
  (``IA_DWELL_TIME``): the sum of their durations.
- ``FFD`` (``IA_FIRST_FIXATION_DURATION``): ``d_k``, whenever it happens (also after a skip).
- ``GD`` (``IA_FIRST_RUN_DWELL_TIME``): the sum over the first run, the fixations
  ``k, k+1, ...`` that stay on ``i``.
- ``RPD`` (``IA_REGRESSION_PATH_DURATION``, go-past time): the sum of ``d_k .. d_{m-1}`` over
  the fixations on interest areas, where ``m`` is the first fixation after ``k`` on an interest
  area beyond ``i`` (to the end of the trial when there is none); it includes the regressions
  to earlier words and the re-reading of ``i`` itself, also for a word skipped in first pass.
- ``skip`` (``IA_SKIP``): ``i`` was never fixated, or an interest area beyond it was fixated
  before ``k`` (skipped in first pass).
- ``regression_out_count`` (``IA_REGRESSION_OUT_COUNT``): moves from ``i`` to an earlier
  interest area between ``k`` and ``m`` (before the eyes go past ``i``), 0 for a word skipped in
  first pass; ``regression_in_count``
  (``IA_REGRESSION_IN_COUNT``): moves from a later interest area to ``i`` over the whole trial.
  ``regression_out`` and ``regression_in`` are these counts above zero, missing for an interest
  area never fixated (Data Viewer writes ``.``).

Interest areas are numbered by their 0-based position in the text, as the stimulus tables do;
"earlier" and "beyond" compare positions. A fixation outside every interest area ends a run, does
not move the eyes past ``i`` and, as in Data Viewer, adds nothing to a regression path.

Durations in a fixation table are seconds; the measures are milliseconds, as in the report.
EyeLink writes 0 ms for the first-pass measures of a skipped word and for the dwell time of a
word never fixated; :func:`word_measures` keeps those values (``conditional=False``) or blanks
them as :func:`neuroalign.data.readers.onestop.read_onestop_measures` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neuroalign._check import NeuroalignError

#: Our measure name -> the interest-area report column it reproduces.
REPORT_COLUMNS = {
    "FFD": "IA_FIRST_FIXATION_DURATION",
    "GD": "IA_FIRST_RUN_DWELL_TIME",
    "TRT": "IA_DWELL_TIME",
    "RPD": "IA_REGRESSION_PATH_DURATION",
    "fixation_count": "IA_FIXATION_COUNT",
    "skip": "IA_SKIP",
    "regression_in": "IA_REGRESSION_IN",
    "regression_in_count": "IA_REGRESSION_IN_COUNT",
    "regression_out": "IA_REGRESSION_OUT",
    "regression_out_count": "IA_REGRESSION_OUT_COUNT",
}
MEASURE_NAMES = tuple(REPORT_COLUMNS)
_FIRST_PASS = ("FFD", "GD", "RPD")
_BOX = ("left", "top", "right", "bottom")


def assign_interest_areas(
    x: np.ndarray, y: np.ndarray, boxes: pd.DataFrame | np.ndarray
) -> np.ndarray:
    """Return the interest area each fixation falls in.

    Parameters
    ----------
    x, y : array of shape (n_fixations,)
        Fixation positions in pixels (screen coordinates, y downwards).
    boxes : DataFrame or array of shape (n_areas, 4)
        One row per interest area in text order: ``left, top, right, bottom`` in pixels (a
        frame with those columns, or an array in that column order). A box holds the points
        with ``left <= x < right`` and ``top <= y < bottom``, so that adjacent words, which share
        an edge, never both hold a fixation.

    Returns
    -------
    position : int ndarray of shape (n_fixations,)
        The row of the box holding each fixation (the first one if boxes overlap), -1 for a
        fixation outside every box or with a missing position.

    Examples
    --------
    >>> boxes = np.array([[0, 0, 10, 20], [10, 0, 30, 20]])
    >>> assign_interest_areas(np.array([5.0, 10.0, 31.0]), np.array([1.0, 1.0, 1.0]), boxes)
    array([ 0,  1, -1])
    """
    if isinstance(boxes, pd.DataFrame):
        missing = [c for c in _BOX if c not in boxes]
        if missing:
            raise NeuroalignError(
                f"interest-area boxes need columns {list(_BOX)}; missing {missing}."
            )
        boxes = boxes[list(_BOX)].to_numpy(dtype=float)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    x = np.asarray(x, dtype=float)[:, None]
    y = np.asarray(y, dtype=float)[:, None]
    left, top, right, bottom = boxes.T
    inside = (left <= x) & (x < right) & (top <= y) & (y < bottom)
    return np.where(inside.any(axis=1), inside.argmax(axis=1), -1).astype(np.int64)


def layout_boxes(
    words: list[str] | np.ndarray | pd.Series,
    *,
    left: float,
    top: float,
    char_width: float,
    line_height: float,
    line_width: float | None = None,
) -> pd.DataFrame:
    """Interest-area boxes of a text laid out in a monospaced font, left to right.

    Parameters
    ----------
    words : sequence of str
        The words in reading order.
    left, top : float
        Pixel position of the text's upper left corner.
    char_width : float
        Width of one character (pixels).
    line_height : float
        Height of a line (pixels); lines follow each other without gaps, as Data Viewer's
        interest areas do.
    line_width : float, optional
        Width (pixels) after which a line wraps before the next word; None: one line.

    Returns
    -------
    boxes : DataFrame
        ``position, text, line, left, top, right, bottom``. A word's box runs from its first
        character to the first character of the next word on its line (its trailing space
        included, as EyeLink's automatic segmentation does), so a line's boxes tile it.

    Examples
    --------
    >>> b = layout_boxes(["The", "cat", "sat."], left=0, top=0, char_width=10, line_height=40,
    ...                  line_width=75)
    >>> b[["text", "line", "left", "right", "top"]].values.tolist()
    [['The', 0, 0.0, 40.0, 0.0], ['cat', 0, 40.0, 80.0, 0.0], ['sat.', 1, 0.0, 50.0, 40.0]]
    """
    words = [str(w) for w in words]
    if char_width <= 0 or line_height <= 0:
        raise NeuroalignError(
            f"char_width and line_height must be positive; got {char_width} and {line_height}."
        )
    rows = []
    x, line = 0.0, 0
    for i, word in enumerate(words):
        width = (len(word) + 1) * char_width
        if line_width is not None and x > 0 and x + len(word) * char_width > line_width:
            x, line = 0.0, line + 1
        rows.append((i, word, line, left + x, left + x + width))
        x += width
    out = pd.DataFrame(rows, columns=["position", "text", "line", "left", "right"])
    out["top"] = top + out["line"] * float(line_height)
    out["bottom"] = out["top"] + float(line_height)
    out[["left", "right"]] = out[["left", "right"]].astype(float)
    return out[["position", "text", "line", "left", "top", "right", "bottom"]]


def word_measures(
    position: np.ndarray,
    duration: np.ndarray,
    n_areas: int,
    *,
    conditional: bool = False,
) -> pd.DataFrame:
    """Compute the word-level reading measures of one trial's fixation sequence.

    Parameters
    ----------
    position : int array of shape (n_fixations,)
        The interest area (0-based position in the text) of each fixation in temporal order,
        -1 outside every interest area.
    duration : array of shape (n_fixations,)
        Fixation durations in milliseconds.
    n_areas : int
        How many interest areas (words) the trial's text has.
    conditional : bool
        If False, EyeLink's values: 0 ms first-pass measures for a word skipped in first pass,
        0 ms dwell time for a word never fixated. If True, those cells are NaN (the
        conventions of ``read_onestop_measures``).

    Returns
    -------
    measures : DataFrame
        One row per interest area (index ``position`` 0 .. n_areas-1), columns
        :data:`MEASURE_NAMES` (see the module notes): durations in ms as floats, counts as
        ints, ``skip`` as bool, ``regression_in`` / ``regression_out`` as nullable booleans
        (missing for a word never fixated).

    Raises
    ------
    NeuroalignError
        If a fixation points at an interest area the text does not have.

    Examples
    --------
    Words 0, 1, 2; the reader fixates 0, skips 1, reads 2, regresses to 1, then goes on to 2:

    >>> m = word_measures(np.array([0, 2, 1, 2]), np.array([200.0, 250.0, 180.0, 150.0]), 3)
    >>> m["GD"].tolist(), m["TRT"].tolist(), m["RPD"].tolist()
    ([200.0, 180.0, 250.0], [200.0, 180.0, 400.0], [200.0, 180.0, 580.0])
    >>> m["skip"].tolist(), m["regression_out_count"].tolist()
    ([False, True, False], [0, 0, 1])
    """
    position = np.asarray(position, dtype=np.int64)
    duration = np.asarray(duration, dtype=float)
    if position.shape != duration.shape or position.ndim != 1:
        raise NeuroalignError(
            f"position and duration must be 1-D of the same length; got shapes "
            f"{position.shape} and {duration.shape}."
        )
    bad = (position < -1) | (position >= n_areas)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise NeuroalignError(
            f"fixation {k + 1} points at interest area {int(position[k])}, but the text has "
            f"{n_areas} interest areas (0..{n_areas - 1})."
        )
    n = len(position)
    ffd = np.zeros(n_areas)
    gd = np.zeros(n_areas)
    rpd = np.zeros(n_areas)
    skip = np.ones(n_areas, dtype=bool)
    reg_out = np.zeros(n_areas, dtype=np.int64)
    on_area = position >= 0
    count = np.bincount(position[on_area], minlength=n_areas).astype(np.int64)
    trt = np.bincount(position[on_area], weights=duration[on_area], minlength=n_areas)
    # Furthest interest area reached before each fixation (-1 before the first).
    furthest_before = (
        np.concatenate([[-1], np.maximum.accumulate(position)[:-1]]) if n else position
    )
    cumulative = np.concatenate([[0.0], np.cumsum(duration)])
    on_area_cumulative = np.concatenate([[0.0], np.cumsum(np.where(on_area, duration, 0.0))])
    for area in np.flatnonzero(count):
        k = int(np.argmax(position == area))
        ffd[area] = duration[k]
        skip[area] = furthest_before[k] > area
        run_end = k
        while run_end + 1 < n and position[run_end + 1] == area:
            run_end += 1
        gd[area] = cumulative[run_end + 1] - cumulative[k]
        beyond = np.flatnonzero(position[k + 1 :] > area)
        m = k + 1 + int(beyond[0]) if beyond.size else n
        rpd[area] = on_area_cumulative[m] - on_area_cumulative[k]
        path = position[k:m]
        if not skip[area]:
            reg_out[area] = int(np.sum((path[:-1] == area) & (path[1:] >= 0) & (path[1:] < area)))
    reg_in = np.zeros(n_areas, dtype=np.int64)
    if n > 1:
        into = (position[1:] >= 0) & (position[:-1] > position[1:])
        reg_in = np.bincount(position[1:][into], minlength=n_areas).astype(np.int64)
    fixated = count > 0
    if conditional:
        ffd, gd, rpd = (np.where(skip, np.nan, v) for v in (ffd, gd, rpd))
        trt = np.where(fixated, trt, np.nan)
    return pd.DataFrame(
        {
            "FFD": ffd,
            "GD": gd,
            "TRT": trt,
            "RPD": rpd,
            "fixation_count": count,
            "skip": skip,
            "regression_in": pd.arrays.BooleanArray(reg_in > 0, ~fixated),
            "regression_in_count": reg_in,
            "regression_out": pd.arrays.BooleanArray(reg_out > 0, ~fixated),
            "regression_out_count": reg_out,
        },
        index=pd.RangeIndex(n_areas, name="position"),
    )


def trial_measures(
    fixations: pd.DataFrame,
    words: pd.DataFrame,
    *,
    boxes: bool = False,
    conditional: bool = True,
) -> pd.DataFrame:
    """Recompute the word-level measures of every trial from a fixation table.

    Parameters
    ----------
    fixations : DataFrame
        A fixation table (``read_onestop_fixations`` or ``detect_fixations`` output): columns
        ``participant, trial, index, duration`` (s), and ``position`` (0-based interest area,
        -1 outside) or, with ``boxes=True``, ``x, y``; a ``text`` column (the interest-area
        label) is checked against the words.
    words : DataFrame
        The interest areas of each trial, one row per word: columns ``participant, trial,
        position, text`` (``read_onestop_measures`` output, or an IA report's rows), plus
        ``story`` when present and ``left, top, right, bottom`` with ``boxes=True``.
    boxes : bool
        Assign fixations to interest areas from their ``x, y`` and the words' boxes
        (:func:`assign_interest_areas`) instead of the fixation table's ``position``.
    conditional : bool
        See :func:`word_measures` (True: the conventions of ``read_onestop_measures``).

    Returns
    -------
    measures : DataFrame
        One row per word of ``words`` in its order: ``participant, trial, (story,) position,
        text`` and :data:`MEASURE_NAMES`. Fixations of trials that ``words`` does not have are
        left out (select trials by selecting their words).

    Raises
    ------
    NeuroalignError
        One line naming the trial: a trial of ``words`` without fixations, a fixation on an
        interest area the trial's text does not have, or a fixation whose interest-area label
        is not the word at that position (see :func:`check_fixations`).
    """
    key = ["participant", "trial"]
    fixations = fixations.copy()
    fixations["participant"] = fixations["participant"].astype(str)
    words = words.copy()
    words["participant"] = words["participant"].astype(str)
    if boxes:
        fixations = fixations.reset_index(drop=True)
        position = np.full(len(fixations), -1, dtype=np.int64)
        text = np.full(len(fixations), "", dtype=object)
        x = fixations["x"].to_numpy(dtype=float)
        y = fixations["y"].to_numpy(dtype=float)
        box = words[list(_BOX)].to_numpy(dtype=float)
        word_position = words["position"].to_numpy()
        word_text = words["text"].astype(str).to_numpy(dtype=object)
        by_trial = words.groupby(key, sort=False).indices
        for trial_key, rows in fixations.groupby(key, sort=False).indices.items():
            if trial_key not in by_trial:
                continue
            at = by_trial[trial_key]
            pos = assign_interest_areas(x[rows], y[rows], box[at])
            inside = pos >= 0
            position[rows[inside]] = word_position[at][pos[inside]]
            text[rows[inside]] = word_text[at][pos[inside]]
        fixations = fixations.assign(position=position, text=text)
    check_fixations(fixations, words)
    fixations = fixations.sort_values([*key, "index"], kind="stable")
    sequences = fixations.groupby(key, sort=False).indices
    position = fixations["position"].to_numpy(dtype=np.int64)
    duration = np.round(fixations["duration"].to_numpy(dtype=float) * 1000.0, 6)
    order, parts = [], []
    for trial_key, rows in words.groupby(key, sort=False).indices.items():
        word_positions = words["position"].to_numpy()[rows]
        fix = sequences[trial_key]
        measures = word_measures(
            position[fix], duration[fix], int(word_positions.max()) + 1, conditional=conditional
        )
        parts.append(measures.iloc[word_positions])
        order.append(rows)
    head = [c for c in ("participant", "trial", "story", "position", "text") if c in words]
    order = np.concatenate(order)
    out = words[head].iloc[order].reset_index(drop=True)
    out = pd.concat([out, pd.concat(parts, ignore_index=True)], axis=1)
    # Back to the order of ``words``.
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def check_fixations(fixations: pd.DataFrame, words: pd.DataFrame) -> None:
    """Check a fixation table against the interest areas of its trials.

    Parameters
    ----------
    fixations : DataFrame
        Columns ``participant, trial, position`` and optionally ``text`` (the label of the
        interest area each fixation is on, "" outside).
    words : DataFrame
        Columns ``participant, trial, position, text``: the words of each trial's text.

    Raises
    ------
    NeuroalignError
        One line naming the participant and trial: a trial with interest areas and no
        fixations; a fixation on an interest area the text does not have; a fixation whose
        label differs from the word at its position (the fixation report was made with
        other interest areas than the text's). Fixations of trials without words are not
        checked.
    """
    key = ["participant", "trial"]
    fixations = fixations.assign(participant=fixations["participant"].astype(str))
    words = words.assign(participant=words["participant"].astype(str))
    have = set(map(tuple, fixations[key].drop_duplicates().itertuples(index=False)))
    for participant, trial in words[key].drop_duplicates().itertuples(index=False):
        if (participant, trial) not in have:
            raise NeuroalignError(
                f"participant {participant!r}, trial {trial}: the trial has no fixations; "
                "drop it from the interest-area table or check the fixation detection."
            )
    trials = pd.MultiIndex.from_frame(words[key].drop_duplicates())
    in_words = pd.MultiIndex.from_frame(fixations[key]).isin(trials)
    on_area = fixations[(fixations["position"] >= 0).to_numpy() & in_words]
    merged = on_area.merge(
        words[[*key, "position", "text"]].rename(columns={"text": "_word"}),
        on=[*key, "position"],
        how="left",
        indicator=True,
    )
    unknown = merged[merged["_merge"] == "left_only"]
    if len(unknown):
        row = unknown.iloc[0]
        n_areas = int(
            (words["participant"].eq(row["participant"]) & words["trial"].eq(row["trial"])).sum()
        )
        raise NeuroalignError(
            f"participant {row['participant']!r}, trial {row['trial']}: a fixation is on "
            f"interest area {int(row['position'])}, which the trial's text does not have "
            f"({n_areas} interest areas)."
        )
    if "text" in merged:
        differ = merged[merged["text"].astype(str) != merged["_word"].astype(str)]
        if len(differ):
            row = differ.iloc[0]
            raise NeuroalignError(
                f"participant {row['participant']!r}, trial {row['trial']}: interest area "
                f"{int(row['position'])} is labelled {row['text']!r} in the fixations but the "
                f"text has {row['_word']!r} there; the interest areas do not match the text."
            )


def check_text(words: pd.DataFrame, text: pd.DataFrame) -> None:
    """Check that the interest areas of every trial are the words of the text it showed.

    Parameters
    ----------
    words : DataFrame
        The interest areas of each trial: ``participant, trial, story, position, text`` (an
        IA report's rows, e.g. :func:`neuroalign.data.readers.onestop.read_onestop_boxes`).
    text : DataFrame
        The texts: ``story, position, text``, one row per word (a stimulus table).

    Raises
    ------
    NeuroalignError
        One line naming the participant, trial and paragraph: a paragraph the texts lack, a
        different number of interest areas than words, or the first interest area whose label
        is not the word at its position.
    """
    texts = {
        str(story): group.sort_values("position")["text"].astype(str).to_numpy()
        for story, group in text.groupby("story", sort=False)
    }
    key = ["participant", "trial"]
    for (participant, trial), group in words.groupby(key, sort=False):
        story = str(group["story"].iloc[0])
        where = f"participant {participant!r}, trial {trial} (paragraph {story!r})"
        if story not in texts:
            raise NeuroalignError(f"{where}: the texts have no paragraph {story!r}.")
        labels = group.sort_values("position")["text"].astype(str).to_numpy()
        expected = texts[story]
        if len(labels) != len(expected):
            raise NeuroalignError(
                f"{where}: {len(labels)} interest areas but the paragraph has "
                f"{len(expected)} words; the interest areas do not match the text."
            )
        differ = np.flatnonzero(labels != expected)
        if differ.size:
            i = int(differ[0])
            raise NeuroalignError(
                f"{where}: interest area {i} is {labels[i]!r} but word {i} of the paragraph "
                f"is {expected[i]!r}; the interest areas do not match the text."
            )


def report_agreement(
    measures: pd.DataFrame, report: pd.DataFrame, *, tolerance: float = 0.0
) -> pd.Series:
    """Share of an interest-area report's rows whose measures we reproduce.

    Parameters
    ----------
    measures : DataFrame
        :func:`trial_measures` output with ``conditional=False`` (EyeLink's values), one row
        per row of ``report`` in the same order.
    report : DataFrame
        The interest-area report as read (``IA_*`` columns; ``.`` is missing).
    tolerance : float
        Largest difference (ms for durations, exact for counts and flags) still counted as
        the same.

    Returns
    -------
    agreement : Series
        Measure name -> share of rows where both are missing or they agree, for the measures
        whose column the report has.

    Raises
    ------
    NeuroalignError
        If the tables have different numbers of rows.
    """
    if len(measures) != len(report):
        raise NeuroalignError(
            f"{len(measures)} rows of measures against {len(report)} rows of the report; "
            "recompute the measures with the report's words in its order."
        )
    out = {}
    for name, column in REPORT_COLUMNS.items():
        if column not in report:
            continue
        ref = pd.to_numeric(report[column].replace(".", np.nan), errors="coerce").to_numpy(float)
        ours = measures[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        within = tolerance if name in ("FFD", "GD", "TRT", "RPD") else 0.0
        same = (np.abs(ref - ours) <= within) | (np.isnan(ref) & np.isnan(ours))
        out[name] = float(same.mean())
    return pd.Series(out, name="agreement")
