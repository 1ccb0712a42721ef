"""The network of the ``octave_cnn`` feature set (torch is imported with this module, so only when
a CNN is built): the bands are the input channels of 1-D convolutions over time, then the mean
and the maximum over time.

Why this shape (measured on the demo and on word-like clips, see ``OctaveCnn``): a 2-D CNN whose
features are averaged over time *and* frequency cannot tell where in frequency a pattern lies,
starts out giving every input the same class, and in the few epochs that early stopping on a
small ``es`` split allows never left that state. Here each band keeps its own weights (what a
band-statistics model sees is kept), the kernels see how levels move from band to band over
neighbouring frames (onsets, sweeps, the order of sounds), and pooling over time alone makes the
features independent of where in the segment the event lies (segments start anywhere, short clips
are repeat-padded).
"""

from __future__ import annotations

import torch


class OctaveCnnNet(torch.nn.Module):
    """(n, frames, bands) → (n, 2·width): two convolutions over time (kernel 3, the second dilated
    by 2: 7 frames seen), ReLU, then per channel the mean and the maximum over time."""

    def __init__(self, bands: int, width: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv1d(bands, width, 3, padding=1)
        self.conv2 = torch.nn.Conv1d(width, width, 3, padding=2, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x.transpose(1, 2)))  # (n, bands, frames): bands are channels
        h = torch.relu(self.conv2(h))
        return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
