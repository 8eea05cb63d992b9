"""Torch-free parameter kernels: the one definition of every injector's random draw.

The injectors (:mod:`audionoise.transforms`), the NumPy offline engine and the long-file path all turn uniforms into
parameters with these functions, and draw the uniforms from one documented stream (:mod:`.stream`: the stream of a
CPU ``torch.Generator``, reproduced in NumPy), so the same ``(seed, key, copy)`` gives the same parameters and the
same records in every engine. Nothing here imports torch: a function given tensors (GPU draws) uses their methods.
"""
