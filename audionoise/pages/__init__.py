"""Pages to see and hear what augmentation does: previews of a pipeline on your clips, robustness reports.

* :func:`preview` / :func:`preview_files` (``audionoise preview IN OUT_DIR``): clean and augmented audio,
  waveforms and spectrograms, the record of every applied transform with measured SNRs, and the distribution
  of the drawn parameters (:mod:`audionoise.pages.preview`);
* the robustness report of ``audionoise evaluate --html DIR`` (:mod:`audionoise.pages.report`).

Pages are self-contained: one inline stylesheet, no script, nothing loaded from the network; assets (WAV, PNG)
sit beside ``index.html`` (or inline as data: URIs in Jupyter). Pictures need matplotlib (``audionoise[plot]``).
"""

from audionoise.pages.preview import Preview, preview, preview_files

__all__ = ["Preview", "preview", "preview_files"]
