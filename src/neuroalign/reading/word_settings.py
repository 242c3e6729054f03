"""Settings of the word-level effects stage: one entry of the config's ``reading.words``.

The fields are the entry's keys (the schema holds their defaults and says what each does). This
module imports neither torch nor transformers, so the workflow can read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from neuroalign.settings import DEFAULT_ALPHAS, StageSettings

__all__ = ["WordEffectsSettings"]


@dataclass(frozen=True, kw_only=True)
class WordEffectsSettings(StageSettings):
    """How one word-level effects analysis runs.

    Build it with ``WordEffectsSettings.from_config({"stimset": "onestop"})``; the schema's
    defaults fill the rest.

    Attributes
    ----------
    stimset : str
        The word-level stimulus table.
    models : tuple of str
        Causal LMs whose surprisal and entropy are predictors.
    measures : tuple of str or None
        Measure columns; None: the reader's.
    log_measures : tuple of str
        Measures regressed on the log scale.
    length, frequency : str or None
        Columns of word length and log frequency; None: the convention's, else computed.
    corpus_predictors : tuple of str or None
        The table's own surprisal columns; None: the convention's that the table has.
    spillover : int
        Previous words whose predictors enter the model.
    keep_edges : bool
        Keep sentence-initial and sentence-final words.
    mixed : {"auto", "off"}
        Mixed models where participant-level measures are given.
    mixed_measures : tuple of str or None
        Measures fitted with mixed models (None: every continuous one).
    crossed_max_rows : int
        Largest table fitted with crossed random effects.
    lag_property : {"length", "frequency"}
        Property of the alignment check.
    max_lag : int
        Offsets ``-max_lag .. max_lag``.
    lag_margin : float
        Standard errors of the off-zero rule.
    lag_min_words : int
        Fewest pairs to judge a text.
    lag_expected : int
        Offset where an aligned table's profile peaks (-1 for self-paced reading).
    on_misalignment : {"error", "warn"}
        Refuse or warn about a misaligned table.
    shift : int
        Words by which the measures are moved later in each text first.
    features : tuple of str
        Models whose activation stores of the table (every layer) go through the ridge engine.
    variable : str
        Unit space of those stores.
    layers : "all" or tuple of int
        Layers of those stores.
    alphas : tuple of float or mapping
        Ridge penalty grid.
    window : int or None
        Tokens per LM input.
    batch_size : int
        LM inputs per forward pass.
    folds : int
        Folds of the held-out delta log-likelihood.
    device : str
        Torch device of the LMs.
    dtype : str
        Precision of the LMs' weights.
    """

    SECTION: ClassVar[str] = "#/$defs/reading_words"

    stimset: str
    models: tuple[str, ...] = ()
    measures: tuple[str, ...] | None = None
    log_measures: tuple[str, ...] = ()
    length: str | None = None
    frequency: str | None = None
    corpus_predictors: tuple[str, ...] | None = None
    spillover: int = 1
    keep_edges: bool = False
    mixed: str = "auto"
    mixed_measures: tuple[str, ...] | None = None
    crossed_max_rows: int = 3000
    lag_property: str = "length"
    max_lag: int = 2
    lag_margin: float = 2.0
    lag_min_words: int = 10
    lag_expected: int = 0
    on_misalignment: str = "error"
    shift: int = 0
    features: tuple[str, ...] = ()
    variable: str = "resid"
    layers: str | tuple[int, ...] = "all"
    alphas: tuple[float, ...] | dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_ALPHAS)
    )
    window: int | None = None
    batch_size: int = 8
    folds: int = 5
    device: str = "cpu"
    dtype: str = "float32"
