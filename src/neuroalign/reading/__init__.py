"""Reading: eye-movement decoding (goals, comprehension) and word-level analyses.

Decoding (:mod:`neuroalign.reading.decode`): trials from fixation and interest-area reports
(:mod:`~neuroalign.reading.decode_data`), decoders behind one interface
(:mod:`~neuroalign.reading.decoders`), goal selection among a paragraph's candidate questions
(:mod:`~neuroalign.reading.decode_select`) and grouped cross-validation over the three
generalization regimes (:mod:`~neuroalign.reading.decode_cv`).

Word-level analyses (:mod:`neuroalign.reading.word_stage`): surprisal and entropy from causal
LMs with exact word alignment and the other word predictors (:mod:`~neuroalign.reading.words`),
OLS and mixed-model effects with intervals and delta log-likelihood
(:mod:`~neuroalign.reading.regress`), layer features through the ridge engine
(:mod:`~neuroalign.reading.features`) and the lag-profile alignment check
(:mod:`~neuroalign.reading.lags`).
"""
