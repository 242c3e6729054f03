"""The simulate stage: write one simulated dataset from its settings, or the story's words.

`simulate` is what ``neuroalign simulate <kind>`` and the workflow's ``simulate_dataset`` rule
run; a Python user calls it with the same defaults::

    from neuroalign.data.simulate import SimMegSettings, simulate

    simulate(SimMegSettings.from_config({"n_subjects": 2, "seed": 1}), output="data/raw/sim_meg")
"""

from __future__ import annotations

from pathlib import Path

from neuroalign._check import NeuroalignError
from neuroalign.data.dataset_lock import dataset_lock
from neuroalign.data.simulate.bids import TRUTH_DIR
from neuroalign.data.simulate.eyetracking import simulate_eyetracking
from neuroalign.data.simulate.features import read_feature_table
from neuroalign.data.simulate.fmri import simulate_fmri
from neuroalign.data.simulate.localizer import simulate_localizer
from neuroalign.data.simulate.meg import simulate_meg
from neuroalign.data.simulate.reading_goals import simulate_reading_goals
from neuroalign.data.simulate.settings import (
    SimFmriSettings,
    SimLocalizerSettings,
    SimReadingGoalsSettings,
    SimulateSettings,
    SimVisionSettings,
)
from neuroalign.data.simulate.story import story_table
from neuroalign.data.simulate.vision import (
    check_vision_output,
    read_image_features,
    simulate_vision,
)
from neuroalign.results import check_replaceable

SIMULATORS = {
    "fmri": simulate_fmri,
    "localizer": simulate_localizer,
    "meg": simulate_meg,
    "eyetracking": simulate_eyetracking,
    "vision": simulate_vision,
    "reading_goals": simulate_reading_goals,
}


def simulate(
    settings: SimulateSettings, *, output: str | Path, features: str | Path | None = None
) -> Path:
    """Write the simulated dataset that ``settings`` describe, with its planted truth.

    Parameters
    ----------
    settings : SimFmriSettings, SimLocalizerSettings, SimMegSettings or SimEyetrackingSettings
        The dataset's settings (``simulate.<kind>`` of the configuration); their class picks
        the kind, their ``seed`` (None: 0) fixes the data bitwise.
    output : str or Path
        The dataset directory, written atomically (an earlier simulated dataset there is
        replaced; any other non-empty folder is refused); the planted truth
        goes to ``<output>/derivatives/neuroalign-truth/``.
    features : str or Path, optional
        Word features that drive the simulation instead of hashed embeddings: a table (CSV,
        TSV, Parquet with a ``text`` column; netCDF with dims (item, unit)) or, for fMRI with
        ``settings.features``, the activation store of that model (its ``units`` and
        ``layer`` are read). The localizer takes none.

    Returns
    -------
    output : Path

    Raises
    ------
    NeuroalignError
        If features are given to the localizer, or ``settings.features`` names a model but
        no activation store is given.

    Notes
    -----
    ``vision`` writes only the betas and planted truth; its images and image table come
    first, from :func:`~neuroalign.data.simulate.vision.simulate_vision_images`, so that a
    model's activations for them (``features``, an activation store of the ``sim_vision``
    stimulus set) can drive the voxels.

    One writer of a dataset folder at a time: a simulation takes the lock a fetch takes
    (:func:`~neuroalign.data.dataset_lock.dataset_lock`, ``.<name>.neuroalign.lock`` beside
    the folder), so a second simulation of the same folder (another workflow on the same
    data root) logs that it waits, naming the lock file, and writes after the first.
    """
    with dataset_lock(output, holder="simulation"):
        return _simulate(settings, output, features)


def _simulate(settings: SimulateSettings, output: str | Path, features: str | Path | None) -> Path:
    if isinstance(settings, SimVisionSettings):
        check_vision_output(output)
        spec = settings.features
        if spec is not None and features is None:
            raise NeuroalignError(
                f"simulate.vision.features names model {spec.model!r}: pass its activation "
                "store of the images (--features results/activations/<model>/sim_vision.zarr), "
                "or set features to null."
            )
        image_features = None
        if features is not None:
            image_features = read_image_features(
                features, units=spec.units if spec else "resid", layer=spec.layer if spec else -1
            )
        return simulate_vision(output, settings, features=image_features)
    # The dataset folder is replaced whole: only an earlier simulated dataset (it holds its
    # planted truth) or an empty folder may be.
    check_replaceable(
        output,
        owned=lambda p: (p / TRUTH_DIR).is_dir(),
        flag="--output",
        what=f"simulated {settings.KIND} dataset",
    )
    spec = settings.features if isinstance(settings, SimFmriSettings) else None
    table = None
    if features is not None:
        if isinstance(settings, SimLocalizerSettings | SimReadingGoalsSettings):
            raise NeuroalignError(
                f"features: the simulated {settings.KIND} dataset takes no word features; "
                "leave them out."
            )
        table = read_feature_table(
            features,
            variable=spec.units if spec else None,
            layer=spec.layer if spec else None,
        )
    elif spec is not None:
        raise NeuroalignError(
            f"simulate.{settings.KIND}.features names model {spec.model!r}: pass its activation "
            "store of the story (--features results/activations/<model>/sim_story.zarr), or "
            "set features to null."
        )
    plain = isinstance(settings, SimLocalizerSettings | SimReadingGoalsSettings)
    kwargs = {} if plain else {"features": table}
    return SIMULATORS[settings.KIND](output, settings, **kwargs)


def write_story_stimuli(output: str | Path) -> Path:
    """Write the bundled story's words as a stimulus table (one row per word, no timing).

    The stimulus set is named after the file (``sim_story.parquet`` -> ``sim_story``); a
    model's activations for it can drive a simulation (``features``).
    """
    from neuroalign.data.stimuli import standardize, write_table

    output = Path(output)
    table = standardize(story_table(), stimset=output.stem, reader="simulate story")
    table.attrs["dataset"] = "sim_story"  # the simulated datasets' own stimulus set
    return write_table(table, output)
