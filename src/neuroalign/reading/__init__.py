"""Reading: eye-movement decoding (goals, comprehension) and word-level analyses.

Decoding (:mod:`neuroalign.reading.decode`): trials from fixation and interest-area reports
(:mod:`~neuroalign.reading.decode_data`), decoders behind one interface
(:mod:`~neuroalign.reading.decoders`) and grouped cross-validation over the three
generalization regimes (:mod:`~neuroalign.reading.decode_cv`).
"""
