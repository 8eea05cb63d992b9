"""Robustness hosts: noisy test sets at exact SNRs (:mod:`.grid`), accuracy-vs-SNR evaluation (:mod:`.evaluation`)
and its statistics (:mod:`.stats`: Wilson intervals, exact McNemar)."""
