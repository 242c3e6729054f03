"""Decoders of a trial's label from its text and eye movements, behind one interface.

A decoder is built for one task (``"goal"`` or ``"correct"``) with the word features of the
paragraphs, then ``fit(trials_train)`` and ``predict_proba(trials_test)`` (P(label = 1) per
trial). :data:`DECODERS` names them; :func:`register_decoder` adds one::

    @register_decoder("my_decoder")
    class MyDecoder(Decoder):
        def fit(self, trials): ...
        def predict_proba(self, trials): ...

- ``text``: the text-only baseline: logistic regression on the paragraph's pooled word
  features (a model's word activations, or hashed bag-of-words vectors) and the question's
  bag-of-words vector. It sees no eye movement, so for the reading goal (crossed with the
  items) it must stay at chance; for comprehension it learns which items are hard.
- ``eye``: the eye-only baseline: logistic regression on aggregated reading measures of the
  trial (fixations per word, durations, skipping, regressions, first-pass coverage, and the
  same measures in and out of the critical span where the data mark one).
- ``fusion``: a RoBERTEye-style transformer over the fixation sequence: each fixation is the
  features of the fixated word (whitened principal components fitted on the training
  paragraphs' words), projected, plus its log duration, relative position, saccade length,
  regression and in-span flags; a small transformer encoder, mean-pooled, plus a projection of
  the trial's aggregated measures, gives the logit.
  Trained in torch (AdamW, class-balanced BCE) with early stopping on an inner validation
  split of the training trials.

Word features come from :class:`WordFeatures`: an activation store of the paragraphs' words
(`neuroalign extract` on the dataset's stimulus table) or hashed word vectors when no model is
given (each word's own random vector, seeded by the word).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from neuroalign._check import NeuroalignError, suggest
from neuroalign.reading.decode_data import ReadingTrials, normalize_word

__all__ = [
    "DECODERS",
    "Decoder",
    "EyeDecoder",
    "FusionDecoder",
    "TextDecoder",
    "WordFeatures",
    "eye_measures",
    "make_decoder",
    "register_decoder",
]

logger = logging.getLogger(__name__)

#: Names of the aggregated reading measures of :func:`eye_measures`.
EYE_MEASURES = (
    "fixations_per_word",
    "mean_log_duration",
    "total_duration_per_word",
    "coverage",
    "first_pass_skip",
    "regression_share",
    "mean_forward_saccade",
    "extent",
    "span_dwell_share",
    "span_coverage",
    "outside_coverage",
    "regressions_into_span",
    "span_log_duration_gain",
)


@dataclass(frozen=True)
class WordFeatures:
    """Vectors of each paragraph's words, and of any other text (questions).

    Attributes
    ----------
    items : dict of str to ndarray, shape (n_words, dim)
        Paragraph word vectors by item.
    dim : int
    source : str
        ``"hashed"`` or the activation store (and layer) they came from.
    """

    items: Mapping[str, np.ndarray]
    dim: int
    source: str = "hashed"

    @classmethod
    def hashed(cls, words: Mapping[str, list[str]], dim: int = 32) -> WordFeatures:
        """Hashed bag-of-words vectors: each (normalized) word's own unit Gaussian vector."""
        return cls({k: hashed_vectors(v, dim) for k, v in words.items()}, dim, "hashed")

    @classmethod
    def from_store(
        cls,
        path: str | Path,
        words: Mapping[str, list[str]],
        *,
        variable: str | None = None,
        layer: int = -1,
    ) -> WordFeatures:
        """Read word vectors from an activation store of the paragraphs' stimulus table.

        The store's items are matched to the paragraphs by their ``story`` and ``position``
        coordinates (the OneStop stimulus table's paragraph id and word index); the words'
        text must agree (case and punctuation aside).

        Raises
        ------
        NeuroalignError
            If the store lacks a paragraph, a word, or the coordinates to match them.
        """
        from neuroalign.results import open_activations

        path = Path(path)
        with open_activations(path) as ds:
            names = [v for v in ds.data_vars if "item" in ds[v].dims and ds[v].ndim >= 2]
            variable = variable or (names[0] if len(names) == 1 else "resid")
            if variable not in names:
                raise NeuroalignError(
                    f"{path}: no unit space {variable!r}; it has {names}.{suggest(variable, names)}"
                )
            da = ds[variable]
            if "layer" in da.dims:
                labels = [int(v) for v in da["layer"].values]
                label = labels[layer] if -len(labels) <= layer < 0 else layer
                if label not in labels:
                    raise NeuroalignError(f"{path}: layer {layer} not in the store ({labels}).")
                da = da.sel(layer=label)
            for coord in ("story", "position"):
                if coord not in da.coords:
                    raise NeuroalignError(
                        f"{path}: activation items have no {coord!r} coordinate; extract from "
                        "the dataset's OneStop stimulus table."
                    )
            values = np.asarray(da.values, dtype=np.float32)
            # Zarr 3 reads text back as NumPy's StringDType: go through objects.
            story = np.asarray(da["story"].values).astype(object).astype(str)
            position = np.asarray(da["position"].values).astype(np.int64)
            text = (
                np.asarray(da["text"].values).astype(object).astype(str)
                if "text" in da.coords
                else None
            )
        rows = {(s, int(p)): i for i, (s, p) in enumerate(zip(story, position, strict=True))}
        items = {}
        for item, item_words in words.items():
            index = []
            for j, word in enumerate(item_words):
                i = rows.get((item, j))
                if i is None:
                    raise NeuroalignError(
                        f"{path}: no activations for word {j} ({word!r}) of paragraph {item!r}; "
                        "extract from this dataset's stimulus table."
                    )
                if text is not None and normalize_word(text[i]) != normalize_word(word):
                    raise NeuroalignError(
                        f"{path}: word {j} of paragraph {item!r} is {word!r} in the reports but "
                        f"{text[i]!r} in the store; the store belongs to another text."
                    )
                index.append(i)
            items[item] = values[index]
        return cls(items, values.shape[1], f"{path.name} ({variable}, layer {layer})")


def hashed_vectors(words: list[str], dim: int) -> np.ndarray:
    """Return one unit-variance Gaussian vector per word, seeded by the normalized word."""
    out = np.empty((len(words), dim), dtype=np.float32)
    for i, word in enumerate(words):
        seed = zlib.crc32(normalize_word(word).encode("utf-8"))
        out[i] = np.random.default_rng(seed).standard_normal(dim)
    return out


def eye_measures(trials: ReadingTrials) -> np.ndarray:
    """Aggregated reading measures per trial (columns :data:`EYE_MEASURES`).

    Computed from the fixation sequence (so they follow a cut to the first k fixations):
    fixations per word, mean log duration (ms), total duration per word (s), share of words
    fixated, first-pass skipping (share of words up to the furthest one reached that were
    passed over before being fixated), share of regressive fixations, mean forward saccade
    (words), furthest word reached (share of the paragraph), and where the trial has a
    critical span: share of dwell time in it, share of its words fixated, share of the words
    outside it fixated, share of regressions that land in it, and the log-duration difference
    in vs out of it (0 where there is no span).
    """
    out = np.zeros((len(trials), len(EYE_MEASURES)))
    starts = trials.trials["span_start"].to_numpy()
    ends = trials.trials["span_end"].to_numpy()
    n_words = trials.trials["n_words"].to_numpy()
    for i in range(len(trials)):
        pos, dur = trials.sequence(i)
        n = int(n_words[i])
        if pos.size == 0:
            continue
        log_d = np.log(np.maximum(dur * 1000.0, 1.0))
        step = np.diff(pos)
        regressive = np.concatenate([[False], step < 0])
        fixated = np.zeros(n, bool)
        fixated[pos] = True
        rightmost = np.maximum.accumulate(pos)
        first_pass = np.zeros(n, bool)
        seen_right = np.concatenate([[-1], rightmost[:-1]])
        first_pass[pos[pos >= seen_right]] = True
        reached = int(rightmost[-1]) + 1
        row = [
            pos.size / n,
            log_d.mean(),
            dur.sum() / n,
            fixated.mean(),
            1.0 - first_pass[:reached].mean(),
            regressive.mean(),
            step[step > 0].mean() if (step > 0).any() else 0.0,
            reached / n,
        ]
        a, b = int(starts[i]), int(ends[i])
        if 0 <= a < b <= n:
            inside = (pos >= a) & (pos < b)
            outside_words = np.r_[0:a, b:n]
            row += [
                dur[inside].sum() / dur.sum(),
                fixated[a:b].mean(),
                fixated[outside_words].mean() if outside_words.size else 0.0,
                (inside & regressive).sum() / max(regressive.sum(), 1),
                (log_d[inside].mean() - log_d[~inside].mean())
                if inside.any() and (~inside).any()
                else 0.0,
            ]
        else:
            row += [0.0] * 5
        out[i] = row
    return out


class Decoder:
    """Base of the decoders: built for a task and word features, then fit and predict.

    Parameters
    ----------
    task : {"goal", "correct"}
    features : WordFeatures
    seed : int
    **params
        Decoder-specific settings (see each class).
    """

    name: ClassVar[str] = ""

    def __init__(self, task: str, features: WordFeatures, seed: int = 0, **params: Any) -> None:
        self.task = task
        self.features = features
        self.seed = seed
        self.params = params

    def _labels(self, trials: ReadingTrials) -> np.ndarray:
        y = trials.labels(self.task)
        if np.isnan(y).any():
            raise NeuroalignError(f"{trials.source}: some trials have no {self.task!r} label.")
        if np.unique(y).size < 2:
            raise NeuroalignError(
                f"{trials.source}: the training trials have one {self.task!r} class only."
            )
        return y.astype(int)

    def fit(self, trials: ReadingTrials) -> Decoder:
        """Fit on ``trials`` (their labels of ``self.task``); return self."""
        raise NotImplementedError

    def predict_proba(self, trials: ReadingTrials) -> np.ndarray:
        """Return P(label = 1) per trial, shape (n_trials,)."""
        raise NotImplementedError


#: Decoder classes by name.
DECODERS: dict[str, type[Decoder]] = {}


def register_decoder(name: str) -> Callable[[type[Decoder]], type[Decoder]]:
    """Class decorator: register a :class:`Decoder` subclass under ``name``."""

    def wrap(cls: type[Decoder]) -> type[Decoder]:
        cls.name = name
        DECODERS[name] = cls
        return cls

    return wrap


def make_decoder(name: str, task: str, features: WordFeatures, seed: int = 0, **params: Any):
    """Build the decoder registered as ``name`` (error lists the names)."""
    if name not in DECODERS:
        raise NeuroalignError(
            f"unknown decoder {name!r}; registered: {', '.join(DECODERS)}.{suggest(name, DECODERS)}"
        )
    return DECODERS[name](task, features, seed=seed, **params)


class _Logistic(Decoder):
    """Standardized features, class-balanced L2 logistic regression (scikit-learn)."""

    def _design(self, trials: ReadingTrials) -> np.ndarray:
        raise NotImplementedError

    def fit(self, trials: ReadingTrials) -> Decoder:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(
                C=float(self.params.get("C", 1.0)), class_weight="balanced", max_iter=2000
            ),
        )
        self.model_.fit(self._design(trials), self._labels(trials))
        return self

    def predict_proba(self, trials: ReadingTrials) -> np.ndarray:
        return self.model_.predict_proba(self._design(trials))[:, 1]


@register_decoder("text")
class TextDecoder(_Logistic):
    """Text-only baseline: paragraph mean word features + question bag-of-words, logistic.

    Parameters (``**params``): ``C`` (inverse L2 strength, default 1.0).
    """

    def _design(self, trials: ReadingTrials) -> np.ndarray:
        dim = self.features.dim
        paragraph = np.stack([self.features.items[k].mean(axis=0) for k in trials.trials["item"]])
        question = np.stack(
            [
                hashed_vectors(q.split(), dim).mean(axis=0) if q.split() else np.zeros(dim)
                for q in trials.trials["question"]
            ]
        )
        length = np.log(trials.trials["n_words"].to_numpy(float))[:, None]
        return np.hstack([paragraph, question, length])


@register_decoder("eye")
class EyeDecoder(_Logistic):
    """Eye-only baseline: aggregated reading measures (:func:`eye_measures`), logistic.

    Parameters (``**params``): ``C`` (inverse L2 strength, default 1.0).
    """

    def _design(self, trials: ReadingTrials) -> np.ndarray:
        return eye_measures(trials)


#: Eye features per fixation token (see `_eye_tokens`).
N_EYE_TOKEN = 5


def _eye_tokens(trials: ReadingTrials, i: int) -> np.ndarray:
    """Per-fixation features: log duration (z), relative position, saccade, regression, span."""
    pos, dur = trials.sequence(i)
    row = trials.trials.iloc[i]
    step = np.diff(pos, prepend=pos[:1]).astype(float)
    in_span = (pos >= row["span_start"]) & (pos < row["span_end"])
    return np.column_stack(
        [
            (np.log(np.maximum(dur * 1000.0, 1.0)) - 5.4) / 0.4,
            pos / float(row["n_words"]),
            np.clip(step, -10, 10) / 5.0,
            (step < 0).astype(float),
            in_span.astype(float),
        ]
    )


@register_decoder("fusion")
class FusionDecoder(Decoder):
    """RoBERTEye-style fusion transformer over the fixation sequence.

    Each fixation token = ``Linear(word components of the fixated word) + Linear(eye
    features)`` plus a learned embedding of its index in the sequence; a transformer encoder
    (pre-norm), masked mean pooling plus ``Linear(trial measures)`` (:func:`eye_measures`,
    standardized on the training trials) and a linear head give the logit.

    Parameters (``**params``)
    -------------------------
    d_model : int (16), word_dim : int (16; principal components of the word features kept),
    n_layers : int (1), n_heads : int (2), dropout : float (0.1),
    lr : float (3e-3), weight_decay : float (1e-2), max_epochs : int (30),
    patience : int (5), batch_size : int (32), validation : float (0.2),
    max_fixations : int (192), device : str ("cpu"; any spec of `neuroalign.devices`),
    threads : int (1; CPU threads while it trains, 0 keeps torch's setting).
    """

    _DEFAULTS: ClassVar[dict[str, Any]] = {
        "d_model": 16,
        "word_dim": 16,
        "n_layers": 1,
        "n_heads": 2,
        "dropout": 0.1,
        "lr": 3e-3,
        "weight_decay": 1e-2,
        "max_epochs": 30,
        "patience": 5,
        "batch_size": 32,
        "validation": 0.2,
        "max_fixations": 192,
        "device": "cpu",
        "threads": 1,
    }

    def _p(self, key: str) -> Any:
        return self.params.get(key, self._DEFAULTS[key])

    def _tensors(self, trials: ReadingTrials) -> tuple[Any, ...]:
        """Padded inputs of every trial: word features, eye features, mask, trial measures."""
        import torch

        cap = int(self._p("max_fixations"))
        seqs_w, seqs_e = [], []
        for i in range(len(trials)):
            pos, _ = trials.sequence(i)
            words = self._project(self.features.items[trials.trials["item"].iloc[i]])[pos]
            seqs_w.append(words[:cap])
            seqs_e.append(_eye_tokens(trials, i)[:cap])
        length = max(len(s) for s in seqs_w)
        w = np.zeros((len(trials), length, self.components_.shape[1]), np.float32)
        e = np.zeros((len(trials), length, N_EYE_TOKEN), np.float32)
        mask = np.zeros((len(trials), length), bool)
        for b, (sw, se) in enumerate(zip(seqs_w, seqs_e, strict=True)):
            w[b, : len(sw)] = sw
            e[b, : len(se)] = se
            mask[b, : len(sw)] = True
        g = ((eye_measures(trials) - self.g_mean_) / self.g_scale_).astype(np.float32)
        dev = self.device_
        return tuple(torch.from_numpy(a).to(dev) for a in (w, e, mask, g))

    def _project(self, words: np.ndarray) -> np.ndarray:
        """Whitened principal components of word features (fitted in `fit`)."""
        return (words - self.mean_) @ self.components_

    def _net(self) -> Any:
        import torch
        from torch import nn

        d, cap = int(self._p("d_model")), int(self._p("max_fixations"))

        class Net(nn.Module):
            def __init__(self, dim: int) -> None:
                super().__init__()
                self.word = nn.Linear(dim, d)
                self.eye = nn.Linear(N_EYE_TOKEN, d)
                self.measures = nn.Linear(len(EYE_MEASURES), d)
                self.order = nn.Embedding(cap, d)
                layer = nn.TransformerEncoderLayer(
                    d,
                    int(outer._p("n_heads")),
                    dim_feedforward=2 * d,
                    dropout=float(outer._p("dropout")),
                    batch_first=True,
                    norm_first=True,
                )
                self.encoder = nn.TransformerEncoder(
                    layer, int(outer._p("n_layers")), enable_nested_tensor=False
                )
                self.head = nn.Linear(d, 1)

            def forward(self, w: Any, e: Any, mask: Any, g: Any) -> Any:
                steps = torch.arange(w.shape[1], device=w.device)
                x = self.word(w) + self.eye(e) + self.order(steps)[None]
                x = self.encoder(x, src_key_padding_mask=~mask)
                m = mask.unsqueeze(-1).to(x.dtype)
                pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
                return self.head(pooled + self.measures(g)).squeeze(-1)

        outer = self
        return Net(self.components_.shape[1])

    def fit(self, trials: ReadingTrials) -> Decoder:
        import torch

        threads = torch.get_num_threads()
        # A model this small runs fastest on one CPU thread (more threads mostly wait).
        torch.set_num_threads(int(self._p("threads")) or threads)
        try:
            return self._fit(trials)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, trials: ReadingTrials) -> Decoder:
        import torch

        from neuroalign.devices import resolve_device

        y = self._labels(trials)
        self.device_ = torch.device(resolve_device(str(self._p("device")), "fusion.device"))
        # Word features reduced to their first principal components over the training
        # paragraphs' words (unsupervised; a wide model's features would overfit small data).
        allw = np.concatenate(
            [self.features.items[k] for k in dict.fromkeys(trials.trials["item"])]
        )
        self.mean_ = allw.mean(0)
        _, sv, vt = np.linalg.svd(allw - self.mean_, full_matrices=False)
        k = min(int(self._p("word_dim")), vt.shape[0])
        self.components_ = (vt[:k].T / (sv[:k] / np.sqrt(len(allw)) + 1e-6)).astype(np.float32)
        measures = eye_measures(trials)
        self.g_mean_, self.g_scale_ = measures.mean(0), measures.std(0) + 1e-6
        inputs = self._tensors(trials)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        # Inner validation split (stratified): early stopping on its loss, best epoch kept.
        val = np.zeros(len(y), bool)
        for c in (0, 1):
            members = rng.permutation(np.flatnonzero(y == c))
            val[members[: max(1, round(float(self._p("validation")) * len(members)))]] = True
        train_idx, val_idx = np.flatnonzero(~val), np.flatnonzero(val)
        net = self._net().to(self.device_)
        opt = torch.optim.AdamW(
            net.parameters(), lr=float(self._p("lr")), weight_decay=float(self._p("weight_decay"))
        )
        pos_weight = torch.tensor((y == 0).sum() / max((y == 1).sum(), 1), device=self.device_)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        y_t = torch.from_numpy(y.astype(np.float32)).to(self.device_)
        val_batch = tuple(t[val_idx] for t in inputs)
        best, best_state, waited = np.inf, None, 0
        batch_size = int(self._p("batch_size"))
        for epoch in range(int(self._p("max_epochs"))):
            net.train()
            order = rng.permutation(train_idx)
            for lo in range(0, len(order), batch_size):
                index = order[lo : lo + batch_size]
                opt.zero_grad()
                loss = loss_fn(net(*(t[index] for t in inputs)), y_t[index])
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(*val_batch), y_t[val_idx]))
            if val_loss < best - 1e-4:
                best, waited, self.best_epoch_ = val_loss, 0, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= int(self._p("patience")):
                    break
        net.load_state_dict(best_state)
        self.net_ = net.eval()
        self.n_epochs_ = epoch + 1
        return self

    def predict_proba(self, trials: ReadingTrials) -> np.ndarray:
        import torch

        inputs = self._tensors(trials)
        out = []
        threads = torch.get_num_threads()
        torch.set_num_threads(int(self._p("threads")) or threads)
        with torch.no_grad():
            for lo in range(0, len(trials), 64):
                batch = tuple(t[lo : lo + 64] for t in inputs)
                out.append(torch.sigmoid(self.net_(*batch)).cpu().numpy())
        torch.set_num_threads(threads)
        return np.concatenate(out).astype(float)
