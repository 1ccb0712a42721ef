"""Synthetic signals with known spectra, shared by tests, benchmarks and notebooks."""

from __future__ import annotations

import numpy as np


def tone(freq: float, n: int, sample_rate: int, amplitude: float = 0.1) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / sample_rate)


def white_noise(n: int, rng: np.random.Generator, rms: float = 0.1) -> np.ndarray:
    return rms * rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator, rms: float = 0.1) -> np.ndarray:
    """1/f power (-3 dB per octave): white noise shaped by 1/√f in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return rms * x / np.sqrt(np.mean(x**2))


def chirp(f0: float, f1: float, n: int, sample_rate: int, amplitude: float = 0.1) -> np.ndarray:
    """Exponential sweep from f0 to f1 over n samples."""
    t = np.arange(n) / sample_rate
    duration = n / sample_rate
    k = np.log(f1 / f0) / duration
    return amplitude * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
